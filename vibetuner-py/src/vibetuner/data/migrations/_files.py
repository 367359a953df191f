"""Migration files on disk: find them in order, load one, write a new numbered one."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from vibetuner.exceptions import ConfigError, MigrationError

FILE_PATTERN = re.compile(r"^([0-9]{4,})_([a-z0-9_]+)\.py$")
NUMBER_WIDTH = 4

Step = Callable[[Any], Awaitable[None]]

TEMPLATE = '''"""{title}."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def up(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Apply the change; `vibetuner db migrate` runs it once.

    `db` is the app's database (pymongo async); Beanie models are ready too. For example:
        await db["posts"].update_many({{"slug": None}}, {{"$set": {{"slug": ""}}}})
    """
    raise NotImplementedError("Write {name}.up, then run `vibetuner db migrate`.")


async def down(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Undo `up` for `vibetuner db rollback`; delete this function if it cannot be undone."""
    raise NotImplementedError("Write {name}.down to make it reversible.")
'''


@dataclass(frozen=True)
class Migration:
    """One file, `0001_add_slug.py`; its name is the file's stem."""

    number: int
    name: str
    path: Path

    def load(self) -> ModuleType:
        """Import the file; a syntax or import error becomes a MigrationError with its line."""
        spec = importlib.util.spec_from_file_location(
            f"_vibetuner_migration_{self.name}", self.path
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise MigrationError(
                f"Cannot load migration {self.name}: {describe(exc, self.path)}",
                fix=f"Fix {self.path} and run the command again.",
            ) from exc
        if not callable(getattr(module, "up", None)):
            raise MigrationError(
                f"Migration {self.name} has no `up` function.",
                fix=f"Define `async def up(db) -> None` in {self.path}.",
            )
        return module

    def step(self, direction: str) -> Step | None:
        """`up` or `down`, or None when the file has no such function."""
        return cast("Step | None", getattr(self.load(), direction, None))


def describe(exc: BaseException, path: Path) -> str:
    """`ValueError: boom (line 7)`: the error and where in the migration file it happened."""
    line: int | None = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {exc}{where}"


def migrations_folder() -> Path:
    """`app/migrations` beside the app package, wherever `app` is importable from."""
    src = Path.cwd() / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    try:
        spec = importlib.util.find_spec("app")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"Cannot find the `app` package from {Path.cwd()}.",
            fix="Run this from the project folder (the one with pyproject.toml and src/app).",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def discover(folder: Path) -> list[Migration]:
    """Every migration file in order; two files with one number is an error, not a guess."""
    if not folder.is_dir():
        return []
    found: list[Migration] = []
    for path in folder.iterdir():
        match = FILE_PATTERN.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.stem, path))
    found.sort(key=lambda m: (m.number, m.name))
    for before, after in itertools.pairwise(found):
        if before.number == after.number:
            raise MigrationError(
                f"Two migrations share number {after.number}: {before.name} and {after.name}.",
                fix=f"Rename {after.path.name} to the next free number.",
            )
    return found


def slug(words: list[str]) -> str:
    text = re.sub(r"[^a-z0-9]+", "_", " ".join(words).lower()).strip("_")
    if not text:
        raise MigrationError(
            f"{' '.join(words)!r} gives an empty migration name.",
            fix="Name it with letters or digits, e.g. `vibetuner db create add slug`.",
        )
    return text[:60].rstrip("_")


def create(folder: Path, words: list[str]) -> Path:
    """Write `NNNN_<slug>.py` with the next number and an `up`/`down` to fill in."""
    name_part = slug(words)
    existing = discover(folder)
    number = (existing[-1].number + 1) if existing else 1
    name = f"{number:0{NUMBER_WIDTH}d}_{name_part}"
    folder.mkdir(parents=True, exist_ok=True)
    package = folder / "__init__.py"
    if not package.exists():
        package.write_text('"""Data migrations, applied in order by `vibetuner db migrate`."""\n')
    path = folder / f"{name}.py"
    title = name_part.replace("_", " ").capitalize()
    path.write_text(TEMPLATE.format(title=title, name=name))
    return path
