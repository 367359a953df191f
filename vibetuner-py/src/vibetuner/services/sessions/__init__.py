"""Server-side sessions: one interface, Redis and MongoDB backends, memory for tests."""

from __future__ import annotations

import functools

from vibetuner.config import get_settings
from vibetuner.data import _mongo as mongo_data
from vibetuner.data import _redis as redis_data
from vibetuner.exceptions import ConfigError
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
    from vibetuner.monitoring import (  # prometheus_client: off startup
        count_mongo_sessions,
        count_redis_sessions,
        set_active_sessions_source,
    )

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
        pattern = store.session_prefix + "*"
        set_active_sessions_source(functools.partial(count_redis_sessions, redis, pattern=pattern))
        return store
    collection = mongo_data.get_database()["sessions"]
    set_active_sessions_source(functools.partial(count_mongo_sessions, collection))
    return MongoSessionStore(collection)
