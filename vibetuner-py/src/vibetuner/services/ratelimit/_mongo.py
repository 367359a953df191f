"""Counts in MongoDB: one conditional `find_one_and_update` per hit, so instances never race.

Each document is one key's count for one window, `_id` `<key>|<window s>|<window index>`.
The `$inc` only matches while the count is below what the limit still allows, so two
instances can never both take the last slot; a TTL index on `expires_at` drops old windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vibetuner.services.ratelimit._base import Window, allowed, blocked

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from vibetuner.services.ratelimit._base import RateLimitResult, RateLimitRule

COLLECTION = "rate_limits"


class MongoRateLimitStore:
    """Shared by every process that uses the same database; builds its indexes on first use."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]] | None = None,
        *,
        resolve: Callable[[], AsyncCollection[dict[str, Any]]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if collection is None and resolve is None:
            raise ValueError("Pass the collection, or `resolve` to look it up on first use.")
        self._collection = collection
        self._resolve = resolve
        self._clock = clock
        self._indexed = False
        self._lock = asyncio.Lock()

    @property
    def collection(self) -> AsyncCollection[dict[str, Any]]:
        """The collection, looked up late so the store can exist before the database is up."""
        if self._collection is None:
            assert self._resolve is not None
            self._collection = self._resolve()
        return self._collection

    async def ensure_indexes(self) -> None:
        """Create the TTL index that deletes finished windows and the index `reset` uses."""
        async with self._lock:
            if self._indexed:
                return
            await self.collection.create_index("expires_at", expireAfterSeconds=0)
            await self.collection.create_index("key")
            self._indexed = True

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        """Count one hit for `key` unless it would exceed `rule`."""
        from pymongo import ReturnDocument  # pymongo: only apps limiting in MongoDB

        if not self._indexed:
            await self.ensure_indexes()
        now = self._clock()
        window = Window.at(now, rule)
        current_id = f"{key}|{rule.window}|{window.index}"
        previous_id = f"{key}|{rule.window}|{window.index - 1}"
        counts = {
            doc["_id"]: int(doc["count"])
            async for doc in self.collection.find({"_id": {"$in": [current_id, previous_id]}})
        }
        previous, current = counts.get(previous_id, 0), counts.get(current_id, 0)
        room = rule.limit - window.weighted(previous)
        if current >= room:
            return blocked(rule, window, previous, current)
        if current_id not in counts:
            expires_at = datetime.fromtimestamp(now, UTC) + timedelta(milliseconds=window.ttl_ms)
            await self._create(current_id, key, expires_at)
        doc = await self.collection.find_one_and_update(
            {"_id": current_id, "count": {"$lt": room}},
            {"$inc": {"count": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return blocked(rule, window, previous, room)
        return allowed(rule, window, previous, int(doc["count"]))

    async def _create(self, doc_id: str, key: str, expires_at: datetime) -> None:
        """Make sure the window's document exists; another instance may create it first.

        Creating apart from counting keeps the counting update a plain conditional one:
        an upserting `find_one_and_update` can return no document under contention
        (seen on SecantusDB), which would hide a hit that was counted.
        """
        from pymongo.errors import DuplicateKeyError  # pymongo: only apps limiting in MongoDB

        with contextlib.suppress(DuplicateKeyError):
            await self.collection.update_one(
                {"_id": doc_id},
                {"$setOnInsert": {"count": 0, "key": key, "expires_at": expires_at}},
                upsert=True,
            )

    async def reset(self, key: str) -> None:
        """Forget every hit for `key`."""
        await self.collection.delete_many({"key": key})
