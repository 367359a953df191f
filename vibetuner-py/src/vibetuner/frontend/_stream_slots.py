"""Caps on concurrent live streams, so streams can never take every place a worker has.

A stream holds three slots while it runs: one of its worker's (SSE_MAX_PER_WORKER, in this
process), one of its client's (SSE_MAX_PER_CLIENT: the session when signed in, else the
/64 or /32 network) and, for visitors, one of the anonymous ones (SSE_MAX_ANONYMOUS). The
last two are shared by every instance through Redis when REDIS_URL is set. Past the
client's cap the answer is 429; past the worker's or the visitors' cap, 503; both say
when to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import Scope

from vibetuner.config import Settings, get_settings
from vibetuner.i18n import _
from vibetuner.server._net import network_of
from vibetuner.services.sessions import Session
from vibetuner.services.slots import MemorySlotStore, SlotStore, get_slot_store

logger = logging.getLogger("vibetuner.sse")

RETRY_AFTER = 10
"""Seconds a refused client is told to wait before it tries again."""
RELEASE_TIMEOUT = 5.0
WORKER_KEY = "worker"
ANONYMOUS_KEY = "sse:anonymous"

_worker = MemorySlotStore()
"""This worker's streams: counted here whatever store the other caps share."""


@dataclass(frozen=True, slots=True)
class StreamCaps:
    """The three caps, read from settings."""

    per_client: int
    per_worker: int
    anonymous: int

    @classmethod
    def of(cls, settings: Settings) -> StreamCaps:
        return cls(settings.sse_max_per_client, settings.sse_worker_cap, settings.sse_max_anonymous)


class StreamRefused(HTTPException):
    """Past a cap: 429 (this client has enough) or 503 (the server has enough)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail, headers={"Retry-After": str(RETRY_AFTER)})


def client_key(scope: Scope) -> tuple[str, bool]:
    """The key the client's streams count under, and whether the client is signed in."""
    session = scope.get("session")
    if isinstance(session, Session) and session.user_id and session.id:
        digest = hashlib.sha256(session.id.encode()).hexdigest()[:32]
        return f"sse:session:{digest}", True  # never the session id itself: it is a secret
    client = scope.get("client")
    return f"sse:net:{network_of(client[0] if client else '')}", False


@contextlib.asynccontextmanager
async def stream_slots(scope: Scope) -> AsyncIterator[None]:
    """Hold this stream's slots while it runs; raise `StreamRefused` past a cap."""
    caps = StreamCaps.of(get_settings())
    shared = get_slot_store()
    holder = uuid.uuid4().hex
    held: list[tuple[SlotStore, str]] = []
    renewing: asyncio.Task[None] | None = None
    ended = asyncio.Event()
    try:
        if not await _worker.acquire(WORKER_KEY, holder, caps.per_worker):
            raise StreamRefused(503, _busy())
        held.append((_worker, WORKER_KEY))
        key, signed_in = client_key(scope)
        if not await shared.acquire(key, holder, caps.per_client):
            raise StreamRefused(429, _too_many())
        held.append((shared, key))
        if not signed_in:
            if not await shared.acquire(ANONYMOUS_KEY, holder, caps.anonymous):
                raise StreamRefused(503, _busy())
            held.append((shared, ANONYMOUS_KEY))
        renewing = asyncio.ensure_future(_renew(list(held), holder, ended))
        yield
    finally:
        ended.set()
        await _release(held, holder, after=renewing)


async def _renew(held: list[tuple[SlotStore, str]], holder: str, ended: asyncio.Event) -> None:
    """Keep the slots' leases alive while the stream runs (this worker's too: a stream that
    outlives a lease still counts). It stops when `ended` is set, never by being cancelled:
    a Redis call cancelled while coredis opens a connection keeps a place of its pool for good."""
    every = min(store.lease for store, _ in held) / 3
    while not await _waited_for(ended, every):
        for store, key in held:
            if ended.is_set():
                return
            try:
                await store.renew(key, holder)
            except Exception as exc:  # a Redis blip: the next round tries again
                logger.warning("Could not renew a live stream's slot: %s", exc)


async def _waited_for(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` was set within `seconds`."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def _release(
    held: list[tuple[SlotStore, str]], holder: str, *, after: asyncio.Task[None] | None
) -> None:
    """Give the slots back, even while the stream's task is being cancelled. This worker's
    at once; the shared ones after the renewal in flight (`after`, a Redis call) ends, which
    would otherwise take one back."""
    shared: list[tuple[SlotStore, str]] = []
    for store, key in held:
        if store is _worker:  # in memory: it never waits, and no renewal of it is in flight
            await store.release(key, holder)
        else:
            shared.append((store, key))

    async def release_all() -> None:
        if after is not None:
            await asyncio.wait({after})  # never raises: a renewer cancelled at shutdown too
        for store, key in shared:
            try:
                await store.release(key, holder)
            except Exception as exc:  # the lease frees it soon enough
                logger.warning("Could not release a live stream's slot: %s", exc)

    task = asyncio.ensure_future(release_all())
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)
    with contextlib.suppress(TimeoutError):  # a release that hangs: the lease frees it
        await asyncio.wait_for(asyncio.shield(task), RELEASE_TIMEOUT)


_releasing: set[asyncio.Task[None]] = set()
"""Releases still running after their stream's task was cancelled."""


def _too_many() -> str:
    return _("Too many live updates are open from here. Close a tab or two and try again.")


def _busy() -> str:
    return _("Live updates are busy right now. Please try again in a few seconds.")
