"""A lease lock in MongoDB: one document with a fixed `_id`, an owner and an expiry.

Taking it inserts the document (the unique `_id` lets only one insert win) or takes over one
whose lease has run out, so a holder that crashed blocks others for one lease at most. The
holder renews the lease while it works and deletes the document when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vibetuner.exceptions import MigrationError

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

LOCK_COLLECTION = "migration_lock"
LOCK_ID = "migrate"
DEFAULT_LEASE = 30.0
POLL_INTERVAL = 0.25


class Lease:
    """Held by one process; `lost` turns true if the lease expired and someone took it."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], lease: float) -> None:
        self.collection = collection
        self.lease = lease
        self.owner = uuid.uuid4().hex
        self.lost = False

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.lease)

    async def try_take(self) -> bool:
        from pymongo.errors import DuplicateKeyError  # pymongo: off the CLI's startup

        try:
            await self.collection.insert_one(
                {"_id": LOCK_ID, "owner": self.owner, "expires_at": self._expiry()}
            )
            return True
        except DuplicateKeyError:
            pass
        taken = await self.collection.update_one(
            {"_id": LOCK_ID, "expires_at": {"$lt": datetime.now(UTC)}},
            {"$set": {"owner": self.owner, "expires_at": self._expiry()}},
        )
        return taken.modified_count == 1

    async def renew(self) -> None:
        kept = await self.collection.update_one(
            {"_id": LOCK_ID, "owner": self.owner}, {"$set": {"expires_at": self._expiry()}}
        )
        self.lost = kept.matched_count == 0

    async def release(self) -> None:
        await self.collection.delete_one({"_id": LOCK_ID, "owner": self.owner})

    def check(self) -> None:
        if self.lost:
            raise MigrationError(
                "Lost the migration lock: this process stalled longer than the lease.",
                fix="Run `vibetuner db status`, then `vibetuner db migrate` again.",
            )


@contextlib.asynccontextmanager
async def migration_lock(
    collection: AsyncCollection[dict[str, Any]],
    *,
    wait: float,
    lease: float = DEFAULT_LEASE,
    on_wait: Callable[[], None] | None = None,
) -> AsyncIterator[Lease]:
    """Hold the lock for the block; wait up to `wait` seconds for another holder to finish."""
    held = Lease(collection, lease)
    deadline = asyncio.get_running_loop().time() + wait
    waited = False
    while not await held.try_take():
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        if asyncio.get_running_loop().time() >= deadline:
            raise MigrationError(
                f"Another process has held the migration lock for over {wait:.0f} s.",
                fix="Wait for it to finish; if it crashed, the lock frees itself within "
                f"{lease:.0f} s.",
            )
        await asyncio.sleep(POLL_INTERVAL)

    async def keep_renewing() -> None:
        while not held.lost:
            await asyncio.sleep(lease / 3)
            with contextlib.suppress(Exception):
                await held.renew()

    renewer = asyncio.create_task(keep_renewing())
    try:
        yield held
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        with contextlib.suppress(Exception):
            await held.release()
