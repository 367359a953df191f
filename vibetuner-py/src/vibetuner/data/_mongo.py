"""MongoDB through Beanie on pymongo's async client: one client per process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vibetuner.config import get_settings
from vibetuner.config import redact_url as _redact
from vibetuner.data._mongo_connect import client_options, connect_failure, read_preference
from vibetuner.data.models import framework_models
from vibetuner.exceptions import DatabaseUnavailable

if TYPE_CHECKING:
    from beanie import Document
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase

_client: AsyncMongoClient[dict[str, Any]] | None = None
_database: str | None = None


def _database_name(url: str, default: str) -> str:
    return urlsplit(url).path.strip("/") or default


async def init_db(
    models: Sequence[type[Document]] = (),
    *,
    url: str | None = None,
    database: str | None = None,
    timeout_ms: int = 5000,
    metrics: bool | None = None,
) -> None:
    """Connect, check the server answers, register framework and app models, build indexes.

    `metrics` (default: when metrics are on) adds the monitoring listeners; commands pass
    False, so a launcher that opens the database before its workers fork never loads the
    metrics its workers must create themselves."""
    global _client, _database
    from beanie import init_beanie  # beanie, pymongo: off the CLI's startup
    from pymongo import AsyncMongoClient
    from pymongo.errors import ConfigurationError, PyMongoError

    from vibetuner.monitoring import metrics_enabled  # starlette: off the CLI's startup

    settings = get_settings()
    url = url or settings.database_url
    if not url:
        raise DatabaseUnavailable(
            "DATABASE_URL is not set.",
            fix="Run `vibetuner run dev` (it starts the embedded database) or set "
            "DATABASE_URL=mongodb://host:27017/app",
        )
    fix = _unreachable_fix(url)
    listening = None
    if metrics_enabled(settings) if metrics is None else metrics:
        from vibetuner.monitoring import mongo_metrics  # prometheus_client: metrics on

        listening = mongo_metrics(settings.db_slow_query_ms)
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            tz_aware=True,
            event_listeners=listening.listeners() if listening else [],
            **client_options(settings),
        )
    except (ConfigurationError, ValueError) as exc:
        raise DatabaseUnavailable(
            f"DATABASE_URL is not a valid MongoDB URL: {exc}", fix=fix
        ) from exc
    name = database or _database_name(url, settings.mongo_database)
    try:
        await client.admin.command("ping")

        document_models = [*framework_models(), *models]
        await init_beanie(database=client[name], document_models=document_models)
    except PyMongoError as exc:
        await client.close()
        raise connect_failure(exc, url, settings) from exc
    _client, _database = client, name
    if listening is not None:
        from vibetuner.monitoring import track_collections  # prometheus_client: metrics on

        listening.watch(client)
        track_collections(model.get_collection_name() for model in document_models)


def _unreachable_fix(url: str) -> str:
    return (
        f"Check that MongoDB is running at DATABASE_URL={_redact(url)}, "
        "or unset DATABASE_URL in dev to use the embedded database."
    )


def check_reachable(url: str, timeout_ms: int = 3000) -> None:
    """Fail fast, before any server starts, when DATABASE_URL does not answer, over TLS when
    it is set, with the credentials it holds (read the app's collection names: `ping` alone
    is allowed to anyone)."""
    from pymongo import MongoClient  # pymongo: kept off the CLI's startup
    from pymongo.errors import ConfigurationError, PyMongoError

    settings = get_settings()
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            url,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,  # a server that connects, then never answers
            **client_options(settings),
        )
    except (ConfigurationError, ValueError) as exc:
        raise DatabaseUnavailable(
            f"DATABASE_URL is not a valid MongoDB URL: {exc}", fix=_unreachable_fix(url)
        ) from exc
    try:
        client.admin.command("ping")
        client[_database_name(url, settings.mongo_database)].list_collection_names()
    except PyMongoError as exc:
        raise connect_failure(exc, url, settings) from exc
    finally:
        client.close()


async def close_db(timeout_s: float = 5.0) -> None:
    """Close the client; bounded, so shutdown never waits on a server that is gone."""
    global _client
    client, _client = _client, None
    if client is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), timeout_s)


def get_database() -> AsyncDatabase[dict[str, Any]]:
    """The app's database, for stores that use raw collections rather than Beanie."""
    client = get_client()
    assert _database is not None
    return client[_database]


def replica_collection(model: type[Document] | str) -> AsyncCollection[dict[str, Any]]:
    """A model's collection (or one named) whose reads follow DATABASE_READ_PREFERENCE: for
    read-heavy queries (reports, listings, search) a secondary may serve, a little behind.
    Every other query, and every write, stays on the primary."""
    if isinstance(model, str):
        collection = get_database()[model]
    else:
        get_client()  # a clear error before Beanie's when the database is not initialised
        collection = model.get_pymongo_collection()
    return collection.with_options(read_preference=read_preference())


def get_client() -> AsyncMongoClient[dict[str, Any]]:
    if _client is None:
        raise DatabaseUnavailable(
            "The database is not initialised.",
            fix="Call `await init_db(models)` at startup (create_app's lifespan does it).",
        )
    return _client


async def ping(timeout_s: float = 2.0) -> bool:
    """True when MongoDB answers within the timeout; never raises."""
    if _client is None:
        return False
    try:
        await asyncio.wait_for(_client.admin.command("ping"), timeout_s)
    except Exception:
        return False
    return True
