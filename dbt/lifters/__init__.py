"""Instruction families, one module each. Importing this package registers every lifter in ``dbt.lift.LIFTERS``."""

import pkgutil
from importlib import import_module

FAMILIES = sorted(m.name for m in pkgutil.iter_modules(__path__))

for _name in FAMILIES:
    import_module(f"{__name__}.{_name}")
