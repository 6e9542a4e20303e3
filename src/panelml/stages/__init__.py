"""Built-in stages. Each module registers its stage with ``@register_stage``,
exactly as a third-party package would; importing this package imports them all."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
