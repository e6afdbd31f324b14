"""Model files in and out: the tables of what can be loaded (registry), melwave's own file format
(model_file), loading by name or path (load), the loading gate every file passes (gate), other
projects' published layouts (formats), the Hugging Face cache (hub) and conversion to melwave's
format (conversion). Nothing is imported here: `melwave.load_vocoder` imports what it needs."""
