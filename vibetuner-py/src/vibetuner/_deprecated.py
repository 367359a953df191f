"""Old import paths, kept for one release: each warns once and hands on the new names."""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def moved(old: str, names: dict[str, str]) -> Any:
    """A module `__getattr__` for `old`: `names` maps each name to the module that has it."""

    def __getattr__(name: str) -> Any:
        home = names.get(name)
        if home is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        public = "vibetuner.testing" if home.startswith("vibetuner.testing") else "vibetuner"
        warnings.warn(
            f"`from {old} import {name}` is deprecated: import it from `{public}` "
            "(`vibetuner scaffold update` moves an app to the new imports).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)

    return __getattr__
