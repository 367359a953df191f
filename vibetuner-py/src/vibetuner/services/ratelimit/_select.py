"""The process's store (Redis, else MongoDB, else memory) and `enforce` for routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException

from vibetuner.config import get_settings
from vibetuner.data._mongo import get_database
from vibetuner.data._redis import get_redis
from vibetuner.i18n import ngettext
from vibetuner.server._net import network_of
from vibetuner.services._chosen import Chosen
from vibetuner.services.ratelimit._base import RateLimitResult, RateLimitRule, RateLimitStore
from vibetuner.services.ratelimit._memory import MemoryRateLimitStore
from vibetuner.services.ratelimit._mongo import COLLECTION, MongoRateLimitStore
from vibetuner.services.ratelimit._redis import RedisRateLimitStore

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection


def get_rate_limit_store() -> RateLimitStore:
    """The process's store, chosen once so every route shares the same counters."""
    return _store.get()


def set_rate_limit_store(store: RateLimitStore | None) -> None:
    """Replace the process's store (tests, or an app with its own backend); None re-chooses."""
    _store.set(store)


def reset_rate_limit_store() -> None:
    """Forget the chosen store, so the next call reads the settings again."""
    set_rate_limit_store(None)


class RateLimitExceeded(HTTPException):
    """Too many hits: a 429 with `Retry-After`, raised by `enforce`."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)

        detail = ngettext(
            "Too many attempts. Try again in %(num)d second.",
            "Too many attempts. Try again in %(num)d seconds.",
            self.retry_after,
        ) % {"num": self.retry_after}
        super().__init__(
            status_code=429,
            detail=detail,
            headers={"Retry-After": str(self.retry_after)},
        )


async def enforce(
    key: str, rule: RateLimitRule | str, *, store: RateLimitStore | None = None
) -> RateLimitResult:
    """Count a hit for `key` and raise `RateLimitExceeded` when `rule` refuses it."""
    if store is None:
        store = get_rate_limit_store()
    result = await store.hit(key, RateLimitRule.coerce(rule))
    if not result.allowed:
        raise RateLimitExceeded(result.retry_after)
    return result


def client_network(host: str | None) -> str:
    """What a limit keyed on the client holds to: the IPv4 address, or the IPv6 /64 (see
    `network_of`); a name that is not an IP (a Unix socket, a test client) as it is."""
    return network_of(host).removesuffix("/32") if host else "unknown"


def _choose() -> RateLimitStore:
    redis = get_redis()
    if redis is not None:
        return RedisRateLimitStore(redis)
    if get_settings().database_url:
        return MongoRateLimitStore(resolve=_mongo_collection)

    return MemoryRateLimitStore()


def _mongo_collection() -> AsyncCollection[dict[str, Any]]:
    """The `rate_limits` collection of the app's database, once `init_db` has connected."""
    return get_database()[COLLECTION]


_store = Chosen(_choose)
