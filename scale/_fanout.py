"""The cost of SSE fan-out: S live streams on the demo's /posts/live, N events published
through the framework's own `broadcast()` (from a separate process, as a job would), and
the CPU the instances spent getting every event to every stream.

Every event reaches every worker that has a subscriber (one pub/sub channel for all
channels), and each of those workers writes it to its own streams. So the cost is
`a` per delivered event plus `b` per event per listening worker; two runs with few and
many streams give both.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx

from scale._cluster import FORWARDED_HTTPS, Cluster
from scale._measure import RedisCli, Snapshot, Window

MARKER = b"capacity-probe"
PUBSUB_PATTERN = "vibetuner:broadcast:*"
PUBLISH = """
import asyncio, sys
from vibetuner import broadcast

async def main(count: int, size: int) -> None:
    for n in range(count):
        item = f'<li id="capacity-probe-{n}" class="card">'
        await broadcast("posts", item + "x" * max(0, size - len(item) - 5) + "</li>")

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""
"""Publishes `count` events of `size` bytes on the demo's "posts" channel."""


def _until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"fan-out: {what} did not happen in {timeout:.0f} s")
        time.sleep(0.05)


class Streams:
    """`len(urls)` live streams held open by one thread, counting each one's events."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.events = [0] * len(urls)
        self.bytes = [0] * len(urls)
        self.open = [False] * len(urls)
        self.failures: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._all(),), daemon=True
        )

    async def _stream(self, client: httpx.AsyncClient, index: int) -> None:
        try:
            async with client.stream(
                "GET", self.urls[index], headers=FORWARDED_HTTPS
            ) as answer:
                if answer.status_code != 200:
                    self.failures.append(f"{self.urls[index]}: {answer.status_code}")
                    return
                self.open[index] = True
                tail = b""
                async for chunk in answer.aiter_bytes():
                    self.bytes[index] += len(chunk)
                    seen = tail + chunk
                    self.events[index] += seen.count(MARKER) - tail.count(MARKER)
                    tail = seen[-(len(MARKER) - 1) :]
        except httpx.HTTPError as exc:
            self.failures.append(f"{self.urls[index]}: {type(exc).__name__}: {exc}")

    async def _all(self) -> None:
        limits = httpx.Limits(max_connections=len(self.urls) + 10)
        timeout = httpx.Timeout(15.0, read=None)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            tasks = [
                asyncio.create_task(self._stream(client, i))
                for i in range(len(self.urls))
            ]
            await self._stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Self:
        self._thread.start()
        try:
            _until(
                lambda: all(self.open) or bool(self.failures),
                "every stream opening",
                timeout=60,
            )
            if self.failures:
                raise RuntimeError(f"fan-out: streams refused: {self.failures[:3]}")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """End every stream and the thread; the client closes its connections."""
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(30)
        if not self._thread.is_alive():
            self._loop.close()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def publish(cluster: Cluster, count: int, size: int) -> None:
    """Run the publisher in the app's venv with the instances' settings."""
    python = str(cluster.app_dir / ".venv" / "bin" / "python")
    done = subprocess.run(
        [python, "-c", PUBLISH, str(count), str(size)],
        cwd=cluster.app_dir,
        env={**os.environ, **cluster.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fan-out: the publisher failed:\n{done.stderr[-2000:]}")


def run_phase(
    cluster: Cluster,
    redis: RedisCli,
    idle: Window,
    streams: int,
    events: int,
    size: int,
) -> dict[str, Any]:
    """Open `streams` streams (round robin over the instances), publish `events`, and wait
    until every stream has every event."""
    urls = [
        f"{cluster.nodes[i % len(cluster.nodes)].url}/posts/live"
        for i in range(streams)
    ]
    with Streams(urls) as held:
        listeners = redis.subscribers(PUBSUB_PATTERN)
        bytes_before = sum(held.bytes)
        before = Snapshot.take(cluster, redis)
        publish(cluster, events, size)
        _until(
            lambda: min(held.events) >= events, f"{events} events on every stream", 120
        )
        after = Snapshot.take(cluster, redis)
        received = sum(held.bytes) - bytes_before
        delivered = sum(held.events)
    window = Window.between(before, after).less_idle(idle)
    return {
        "streams": streams,
        "events": events,
        "listening_workers": listeners,
        "delivered": delivered,
        "seconds": round(window.seconds, 3),
        "app_cpu_s": round(window.app_cpu, 4),
        "redis_cpu_s": round(window.cpu["redis"], 4),
        "redis_out_bytes": window.redis_out_bytes,
        "client_bytes": received,
    }


def solve(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    """Per-delivery and per-listening-worker CPU from two runs: for each run,
    cpu = events * (a * streams + b * listeners); two equations, two unknowns."""
    s1, l1, c1 = (
        small["streams"],
        small["listening_workers"],
        small["app_cpu_s"] / small["events"],
    )
    s2, l2, c2 = (
        large["streams"],
        large["listening_workers"],
        large["app_cpu_s"] / large["events"],
    )
    det = s1 * l2 - s2 * l1
    if det == 0:
        raise RuntimeError(
            "fan-out: both runs had the same streams per listening worker"
        )
    per_delivery = (c1 * l2 - c2 * l1) / det
    per_listener = (s1 * c2 - s2 * c1) / det
    deliveries = large["events"] * large["streams"]
    listened = large["events"] * large["listening_workers"]
    return {
        "app_cpu_us_per_delivery": round(per_delivery * 1e6, 2),
        "app_cpu_us_per_event_per_listening_worker": round(per_listener * 1e6, 2),
        "app_cpu_us_per_delivery_all_in": round(
            large["app_cpu_s"] / deliveries * 1e6, 2
        ),
        "bytes_per_delivery": round(large["client_bytes"] / deliveries, 1),
        "redis_bytes_per_event_per_listening_worker": round(
            large["redis_out_bytes"] / listened, 1
        ),
        "redis_cpu_us_per_event_per_listening_worker": round(
            large["redis_cpu_s"] / listened * 1e6, 2
        ),
    }


def measure(
    cluster: Cluster,
    redis: RedisCli,
    idle: Window,
    *,
    events: int = 200,
    size: int = 512,
) -> dict[str, Any]:
    """Two runs (a few streams, then many) and the costs they give."""
    few = run_phase(
        cluster, redis, idle, len(cluster.nodes) * cluster.workers * 2, events, size
    )
    many = run_phase(
        cluster, redis, idle, len(cluster.nodes) * cluster.workers * 40, events, size
    )
    for run in (few, many):
        if run["delivered"] != run["events"] * run["streams"]:
            raise RuntimeError(f"fan-out: events lost or repeated: {run}")
    return {"payload_bytes": size, "runs": [few, many], **solve(few, many)}
