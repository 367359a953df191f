"""No code reads, imports or overrides a private name of a dependency: upgrades of Starlette,
FastAPI, Granian or Jinja must not break us through their internals."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import vibetuner

SRC = Path(vibetuner.__file__).resolve().parent
# Private by name but documented: os._exit (the exit for forked children), namedtuple's
# _replace; enum's _sunder_ names are its documented hooks.
DOCUMENTED = {"_exit", "_replace", "_asdict", "_fields"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("_")


def _foreign_private(name: str, ours: set[str]) -> bool:
    return _private(name) and name not in ours and name not in DOCUMENTED


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(SRC.rglob("*.py"))]


def _own_private_names(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """Every private name our own code defines: modules, functions, classes, attributes."""
    names = {path.stem for path, _ in trees} | {path.parent.name for path, _ in trees}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {name for name in names if _private(name)}


def test_no_private_attribute_of_a_dependency_is_read() -> None:
    trees = _trees()
    ours = _own_private_names(trees)
    found = []
    for path, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                if top not in {"vibetuner", "_typeshed"}:  # typeshed: types for checking only
                    private = [a.name for a in node.names if _private(a.name)]
                    private += [p for p in node.module.split(".") if _private(p)]
                    found += [
                        f"{path.name}:{node.lineno} from {node.module} import {p}" for p in private
                    ]
            elif isinstance(node, ast.Attribute) and _foreign_private(node.attr, ours):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert found == [], "private names of dependencies:\n" + "\n".join(found)


def test_no_private_method_of_a_dependency_is_overridden() -> None:
    found = []
    for module_info in pkgutil.walk_packages([str(SRC)], "vibetuner."):
        if ".testing" in module_info.name or module_info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(module_info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            foreign = [b for b in cls.__mro__[1:] if not b.__module__.startswith("vibetuner")]
            for name, value in vars(cls).items():
                written = inspect.isfunction(value) or isinstance(value, property)
                if written and _private(name) and any(name in vars(b) for b in foreign):
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert found == [], "overrides of private methods:\n" + "\n".join(found)
