"""The application's entity declarations: each module here declares one entity.

`application()` imports every module of this package, so a new entity is a new
module here (with its domain entity) and no edit anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil

from schema.entities import Declaration, declarations


def application() -> list[Declaration]:
    """The declarations of every module in this package, in name order."""
    names = sorted(
        f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__) if not module.ispkg
    )
    for name in names:
        importlib.import_module(name)
    return declarations(names)
