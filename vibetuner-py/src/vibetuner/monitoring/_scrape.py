"""The exposition a scrape returns: this process's registry, or every worker's files.

With shared metrics (PROMETHEUS_MULTIPROC_DIR), counters and histograms add up over every
worker that ever ran in this server, as Prometheus expects of counters; a dead worker's
live gauges (its process figures, pool counts, requests in flight) are removed by the
first scrape that finds it gone (`mark_process_dead`), and by the worker itself at a
clean shutdown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import Metric, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from vibetuner.config import ascii_int
from vibetuner.monitoring._process import START_TIME_NAME, publish
from vibetuner.monitoring._registry import MULTIPROC_DIR, REGISTRY

# prometheus_client leaves these untyped.
_files: Callable[[None, str], Collector] = MultiProcessCollector
_mark_dead: Callable[[int, str], None] = mark_process_dead


def exposition() -> bytes:
    """The text format of every metric, after this process refreshed its sampled gauges."""
    publish()
    if MULTIPROC_DIR is None:
        return generate_latest(REGISTRY)
    return generate_latest(SharedMetrics(MULTIPROC_DIR))


class SharedMetrics(Collector):
    """Every worker's files, merged; dead workers' live gauges are dropped first."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        families = list(_files(None, self.path).collect())
        dead = dead_workers(families)
        if not dead:
            return families
        for pid in dead:
            _mark_dead(pid, self.path)
        return list(_files(None, self.path).collect())


def dead_workers(families: Iterable[Metric]) -> list[int]:
    """The pids of workers whose process figures are present but who no longer run."""
    pids = {
        pid
        for family in families
        if family.name == START_TIME_NAME
        for sample in family.samples
        if (pid := ascii_int(sample.labels.get("worker", ""))) is not None
    }
    return sorted(pid for pid in pids if not alive(pid))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
