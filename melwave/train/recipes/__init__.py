"""Recipes register themselves (melwave.train.recipe.register_recipe) when imported; every
module in this package is imported, so a new recipe file is found without editing this one."""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
