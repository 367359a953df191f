"""Server-side sessions: one interface, Redis and MongoDB backends, memory for tests."""

from __future__ import annotations

import functools

from vibetuner.config import get_settings
from vibetuner.data import _mongo as mongo_data
from vibetuner.data import _redis as redis_data
from vibetuner.exceptions import ConfigError
from vibetuner.monitoring import metrics_enabled
from vibetuner.services.sessions._base import (
    SessionRecord,
    SessionStore,
    new_session_id,
    utcnow,
)
from vibetuner.services.sessions._memory import MemorySessionStore
from vibetuner.services.sessions._mongo import MongoSessionStore
from vibetuner.services.sessions._redis import RedisSessionStore
from vibetuner.services.sessions._session import (
    ANONYMOUS,
    CSRF_KEY,
    USER_KEY,
    AnonymousUser,
    Session,
    SessionUser,
)

__all__ = [
    "ANONYMOUS",
    "CSRF_KEY",
    "USER_KEY",
    "AnonymousUser",
    "MemorySessionStore",
    "MongoSessionStore",
    "RedisSessionStore",
    "Session",
    "SessionRecord",
    "SessionStore",
    "SessionUser",
    "get_session_store",
    "new_session_id",
    "utcnow",
]


@functools.cache
def get_session_store() -> SessionStore:
    """Redis when REDIS_URL is set, else MongoDB; SESSION_BACKEND forces one."""
    backend = get_settings().session_backend
    if backend == "memory":
        return MemorySessionStore()
    redis = redis_data.get_redis()
    if backend == "redis" or (backend == "auto" and redis is not None):
        if redis is None:
            raise ConfigError(
                "SESSION_BACKEND=redis but REDIS_URL is not set.", fix="Set REDIS_URL."
            )
        store = RedisSessionStore(redis)
        _count_sessions(store)
        return store
    mongo_store = MongoSessionStore(mongo_data.get_database()["sessions"])
    _count_sessions(mongo_store)
    return mongo_store


def _count_sessions(store: RedisSessionStore | MongoSessionStore) -> None:
    """Report the store's active sessions in /metrics, when metrics are on."""
    if not metrics_enabled(get_settings()):
        return
    from vibetuner.monitoring import (  # prometheus_client: metrics on
        count_mongo_sessions,
        count_redis_sessions,
        set_active_sessions_source,
        track_collections,
    )

    if isinstance(store, RedisSessionStore):
        pattern = store.session_prefix + "*"
        source = functools.partial(count_redis_sessions, store.redis, pattern=pattern)
    else:
        source = functools.partial(count_mongo_sessions, store.collection)
        name = store.collection.name
        track_collections([name, f"{name}_generations"])  # its commands, by name
    set_active_sessions_source(source)
