"""Bounded waits that never cancel what they wait for.

A timeout such as `asyncio.wait_for` cancels the call it gives up on. coredis 6.9 loses a
pool place for good when a call is cancelled while it opens a connection, which a Redis that
hangs makes likely: readiness probes, metric scrapes and error pages kept timing out, and once
the pool's places were gone the worker's Redis client hung after Redis came back. A call waited
for here that overruns goes on in the background and ends by the client's own timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

_overrun: set[asyncio.Future[Any]] = set()
"""Calls given up on and still running: held so they are not collected before they end."""


async def wait_at_most(work: Awaitable[T], seconds: float) -> T:
    """The result of `work`, or TimeoutError after `seconds`, leaving `work` to finish alone
    (its result or error is then dropped)."""
    task: asyncio.Future[T] = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return task.result()
    _overrun.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError(f"gave up after {seconds:g} s")


def _forget(task: asyncio.Future[Any]) -> None:
    _overrun.discard(task)
    if not task.cancelled():
        task.exception()  # read, so asyncio does not log it as never retrieved
