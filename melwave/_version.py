"""melwave's version, in its own module so that any layer can name it without importing the
package root (which would be an import from models/ up to the top)."""

__version__ = "0.1.0"
