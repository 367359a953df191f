"""A bounded wait gives up on a call without cancelling it."""

from __future__ import annotations

import asyncio

import pytest

from vibetuner.server._waits import wait_at_most


async def test_the_result_when_it_comes_in_time() -> None:
    async def quick() -> int:
        return 7

    assert await wait_at_most(quick(), 5) == 7


async def test_an_error_in_time_is_raised() -> None:
    async def broken() -> None:
        raise ValueError("broke")

    with pytest.raises(ValueError, match="broke"):
        await wait_at_most(broken(), 5)


async def test_a_call_that_overruns_goes_on_to_its_end() -> None:
    release, ended = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        await release.wait()
        ended.set()

    with pytest.raises(TimeoutError):
        await wait_at_most(slow(), 0.05)
    release.set()
    await asyncio.wait_for(ended.wait(), 10)  # it was not cancelled: it ends by itself
