"""Reach the database (and Redis) the app would use, for one CLI command.

Settings come from the environment and the project's `.env`, as for the app. Without
DATABASE_URL in dev, the command joins the embedded database `vibetuner run dev` is serving
(it leaves its URL in `.vibetuner/db.url`), or starts the embedded database for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

from vibetuner.config import get_settings, reset_settings
from vibetuner.data import _redis
from vibetuner.data._embedded import URL_FILE, EmbeddedMongo
from vibetuner.data._mongo import close_db, init_db
from vibetuner.exceptions import ConfigError
from vibetuner.tasks import close_jobs
from vibetuner.tasks._worker import app_models

T = TypeVar("T")


def add_src_to_path() -> None:
    src = Path.cwd() / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))


def running_embedded_url(state_dir: Path) -> str | None:
    """The URL `vibetuner run dev` left behind, if that server still answers."""
    from pymongo import MongoClient  # pymongo: kept off the CLI's startup
    from pymongo.errors import PyMongoError

    marker = state_dir / URL_FILE
    if not marker.is_file():
        return None
    url = marker.read_text().strip()
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=800, connectTimeoutMS=800
    )
    try:
        client.admin.command("ping")
    except PyMongoError:
        return None
    finally:
        client.close()
    return url


@contextlib.contextmanager
def app_database_url(*, quiet: bool = False) -> Iterator[str]:
    """DATABASE_URL for this command; in dev without one, the embedded server."""
    add_src_to_path()
    reset_settings()
    settings = get_settings()
    if settings.database_url:
        yield settings.database_url
        return
    if settings.is_prod:
        raise ConfigError(
            "DATABASE_URL is not set.",
            fix="Set DATABASE_URL=mongodb://host:27017/app in the environment or .env.",
        )
    url = running_embedded_url(settings.state_dir)
    embedded = None
    if url is None and not _an_apps_folder(settings.project_root, settings.state_dir):
        raise ConfigError(
            f"DATABASE_URL is not set, and {settings.project_root} is not an app's folder (no "
            "pyproject.toml or src/app): the embedded database lives in its .vibetuner/db.",
            fix="Run this from the app's folder (the one with pyproject.toml), or set "
            "DATABASE_URL.",
        )
    if url is None:
        embedded = EmbeddedMongo(settings.state_dir / "db", database=settings.mongo_database)
        if not quiet:
            from rich.console import Console  # rich: kept off the CLI's startup

            Console(stderr=True).print("[dim]Starting the embedded database (.vibetuner/db)…[/]")
        url = embedded.start()
    os.environ["DATABASE_URL"] = url
    reset_settings()
    try:
        yield url
    finally:
        os.environ.pop("DATABASE_URL", None)
        reset_settings()
        if embedded is not None:
            embedded.stop()


def _an_apps_folder(root: Path, state_dir: Path) -> bool:
    """Where a command may start (and create) the embedded database: never a stray folder."""
    marks = (root / "pyproject.toml").is_file(), (root / "src" / "app").is_dir()
    return any(marks) or (state_dir / "db").is_dir()


def run_with_app_database(work: Callable[[], Awaitable[T]]) -> T:
    """Open the app's database with its models (plus Redis and jobs when set), run, close."""

    async def run() -> T:
        await init_db(app_models(), metrics=False)  # a command: nothing scrapes it
        try:
            return await work()
        finally:
            await close_jobs()
            await _redis.close_redis()
            await close_db()

    with app_database_url():
        return asyncio.run(run())


def remember_embedded_url(state_dir: Path, url: str | None) -> None:
    """`run dev` records its embedded server's URL for other commands; None forgets it."""
    marker = state_dir / URL_FILE
    if url is None:
        marker.unlink(missing_ok=True)
    else:
        marker.write_text(url + "\n")
