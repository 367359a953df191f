"""This process's CPU, memory and open files, labelled by worker, and the background samples.

prometheus_client's process collector is a custom collector, which its multiprocess mode
does not run: each process reads its own figures with it (on Linux, from /proc) and copies
them into gauges labelled `worker` (its pid), so one scrape shows every worker. With shared
metrics, a sampler task does that every METRICS_SAMPLE_INTERVAL, with the pool counts and
requests in flight; the worker that answers a scrape refreshes its own first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import Gauge, ProcessCollector
from prometheus_client.multiprocess import mark_process_dead

from vibetuner.monitoring._db import publish_mongo, sample_db_stats
from vibetuner.monitoring._registry import IN_FLIGHT, IN_FLIGHT_COUNT, MULTIPROC_DIR, REGISTRY

logger = logging.getLogger("vibetuner.monitoring")

StatsReader = Callable[[], Awaitable[Mapping[str, Any]]]
_mark_dead: Callable[[int, str], None] = mark_process_dead  # untyped in prometheus_client


def _gauge(name: str, doc: str) -> Gauge:
    return Gauge(name, doc, ("worker",), registry=REGISTRY, multiprocess_mode="livesum")


CPU = _gauge("vibetuner_process_cpu_seconds", "CPU time used, user and system (rate() it).")
RSS = _gauge("vibetuner_process_resident_memory_bytes", "Resident memory (RSS).")
OPEN_FDS = _gauge("vibetuner_process_open_fds", "Open file descriptors.")
MAX_FDS = _gauge("vibetuner_process_max_fds", "The open file descriptors limit.")
START_TIME = _gauge("vibetuner_process_start_time_seconds", "Start time, Unix seconds.")
FROM_COLLECTOR = {
    "process_cpu_seconds_total": CPU,
    "process_resident_memory_bytes": RSS,
    "process_open_fds": OPEN_FDS,
    "process_max_fds": MAX_FDS,
    "process_start_time_seconds": START_TIME,
}
START_TIME_NAME = "vibetuner_process_start_time_seconds"
"""Every worker that ever published has this series: the scrape finds the dead ones by it."""
_reader = ProcessCollector(registry=None)


def publish_process() -> None:
    """Copy this process's figures into the gauges under its own `worker` label."""
    worker = str(os.getpid())
    for family in _reader.collect():
        for sample in family.samples:
            gauge = FROM_COLLECTOR.get(sample.name)
            if gauge is not None:
                gauge.labels(worker).set(sample.value)


def publish() -> None:
    """Everything this process samples rather than counts: process, pool, in flight."""
    publish_process()
    publish_mongo()
    if MULTIPROC_DIR:
        IN_FLIGHT.set(IN_FLIGHT_COUNT.value)


@contextlib.asynccontextmanager
async def sampling(
    *, interval: float, db_stats: StatsReader | None = None, db_stats_interval: float = 60.0
) -> AsyncIterator[None]:
    """Publish every `interval` (with shared metrics) and sample dbStats every
    `db_stats_interval` (one worker of a server does); at exit, this worker's gauges go."""
    tasks = []
    if MULTIPROC_DIR:
        tasks.append(asyncio.create_task(_every(interval, publish)))
    if db_stats is not None:
        tasks.append(asyncio.create_task(_db_stats(db_stats, db_stats_interval)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if MULTIPROC_DIR:
            _mark_dead(os.getpid(), MULTIPROC_DIR)


async def _every(interval: float, work: Callable[[], None]) -> None:
    while True:
        try:
            work()
        except Exception:
            logger.warning("metrics sample failed", exc_info=True)
        await asyncio.sleep(interval)


async def _db_stats(read: StatsReader, interval: float) -> None:
    while True:
        if _leads_db_stats():
            await sample_db_stats(read)
        await asyncio.sleep(interval)


_lead: list[int] = []


def _leads_db_stats() -> bool:
    """One worker of a server samples dbStats: the one holding a lock in the shared folder
    (released by the system when it dies, so another takes over at its next turn)."""
    if not MULTIPROC_DIR or _lead:
        return True
    fd = os.open(os.path.join(MULTIPROC_DIR, "db-stats.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _lead.append(fd)
    return True
