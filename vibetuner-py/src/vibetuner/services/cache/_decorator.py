"""`@cached(ttl, key=...)`: memoise an async function's JSON result in the cache backend."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec, TypeVar

from vibetuner.services.cache._base import CacheBackend
from vibetuner.services.cache._select import default_ttl, encode, get_cache_backend

P = ParamSpec("P")
R = TypeVar("R")

KeySpec = str | Callable[..., str] | None


class CachedFunction(Generic[P, R]):
    """The wrapped function; `invalidate(*args)` forgets the entry those arguments made."""

    __name__: str

    def __init__(
        self,
        fn: Callable[P, Awaitable[R]],
        *,
        ttl: int | None,
        key: KeySpec,
        backend: CacheBackend | None,
    ) -> None:
        self.fn = fn
        self.ttl = ttl
        self._key = key
        self._backend = backend
        self._signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def key_for(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key these arguments map to (what `invalidate` deletes)."""
        if callable(self._key):
            return self._key(*args, **kwargs)
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        if isinstance(self._key, str):
            return self._key.format(**bound.arguments)
        name = f"{self.fn.__module__}.{self.fn.__qualname__}"
        return f"fn:{name}:{json.dumps(bound.arguments, sort_keys=True, default=str)}"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        backend = self._backend or get_cache_backend()
        key = self.key_for(*args, **kwargs)
        raw = await backend.get(key)
        if raw is not None:
            result: R = json.loads(raw)
            return result
        value = await self.fn(*args, **kwargs)
        await backend.set(key, encode(value), default_ttl() if self.ttl is None else self.ttl)
        return value

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the cached result for these arguments; True when there was one."""
        backend = self._backend or get_cache_backend()
        return await backend.delete(self.key_for(*args, **kwargs))


def cached(
    ttl: int | None = None, *, key: KeySpec = None, backend: CacheBackend | None = None
) -> Callable[[Callable[P, Awaitable[R]]], CachedFunction[P, R]]:
    """Cache an async function's result for `ttl` seconds (default CACHE_DEFAULT_TTL).

    `key` is a format string over the arguments (`"user:{user_id}"`) or a callable taking
    the same arguments; without it the key is the function's name and its arguments.
    Results must be JSON-serialisable (tuples come back as lists). `None` is cached too.
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> CachedFunction[P, R]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@cached needs an async function, got {fn!r}")
        return CachedFunction(fn, ttl=ttl, key=key, backend=backend)

    return decorate
