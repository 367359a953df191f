"""Module attributes loaded on first use: the public faces' exports, and old import paths
(kept for one release: each warns once and hands on the new names)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def lazy(
    owner: str, names: Mapping[str, str], cache: dict[str, Any] | None = None
) -> Callable[[str], Any]:
    """A module `__getattr__` for `owner`: `names` maps each name to the module that has it;
    a name once loaded is kept in `cache` (the owner's `globals()`) when one is given."""

    def __getattr__(name: str) -> Any:
        home = names.get(name)
        if home is None:
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        if cache is not None:
            cache[name] = value
        return value

    return __getattr__


def moved(old: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """`lazy` for an old import path: each name found warns where it lives now."""
    load = lazy(old, names)

    def __getattr__(name: str) -> Any:
        home = names.get(name)
        if home is not None:
            public = "vibetuner.testing" if home.startswith("vibetuner.testing") else "vibetuner"
            warnings.warn(
                f"`from {old} import {name}` is deprecated: import it from `{public}` "
                "(`vibetuner scaffold update` moves an app to the new imports).",
                DeprecationWarning,
                stacklevel=2,
            )
        return load(name)

    return __getattr__
