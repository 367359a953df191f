"""The process's Prometheus metrics: one private registry, label children looked up once.

Each Granian worker is its own process with its own registry. Under `vibetuner run prod`
with several workers, PROMETHEUS_MULTIPROC_DIR is set before they start: prometheus_client
then writes every value to a file per process there, and a scrape of any worker reads them
all (`_scrape`). Gauges say how their workers' values combine (`multiprocess_mode`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vibetuner.server._waits import wait_at_most

logger = logging.getLogger("vibetuner.monitoring")

Source = Callable[[], Awaitable[float]]
JobOutcome = Literal["ok", "retried", "dead"]
_Child = TypeVar("_Child", Counter, Histogram)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_DIR = os.environ.get(MULTIPROC_ENV) or None
"""Set: the workers of this server share their metrics through files in this folder."""
LABEL_LIMIT = 200
"""Distinct values per label before new ones are folded into "other": bounded cardinality."""
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("other", "1xx", "2xx", "3xx", "4xx", "5xx")

REGISTRY = CollectorRegistry()

REQUEST_SECONDS = Histogram(
    "vibetuner_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ("method", "route"),
    registry=REGISTRY,
)
RESPONSES = Counter(
    "vibetuner_http_responses_total",
    "HTTP responses by status class.",
    ("status_class",),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge("vibetuner_http_requests_in_flight", "Requests being answered.",
                  registry=REGISTRY, multiprocess_mode="livesum")  # fmt: skip
# Read at scrape time by the worker that answers it: its value is the newest.
ACTIVE_SESSIONS = Gauge("vibetuner_active_sessions", "Unexpired sessions.",
                        registry=REGISTRY, multiprocess_mode="livemostrecent")  # fmt: skip
QUEUE_LENGTH = Gauge("vibetuner_job_queue_length", "Jobs waiting in the queue.",
                     registry=REGISTRY, multiprocess_mode="livemostrecent")  # fmt: skip
JOBS = Counter(
    "vibetuner_jobs_total", "Finished job attempts by outcome.", ("outcome",), registry=REGISTRY
)


def _calls(name: str, server: str, label: str) -> tuple[Histogram, Counter]:
    """The latency and the failures of one server's commands, by `label`."""
    latency = Histogram(f"vibetuner_{name}_call_seconds", f"{server} command latency.",
                        (label,), buckets=FAST_BUCKETS, registry=REGISTRY)  # fmt: skip
    errors = Counter(f"vibetuner_{name}_call_errors_total", f"Failed {server} commands.",
                     (label,), registry=REGISTRY)  # fmt: skip
    return latency, errors


REDIS_SECONDS, REDIS_ERRORS = _calls("redis", "Redis", "command")


class InFlight:
    """A plain counter read at scrape time: cheaper than a locked Gauge on every request.
    With shared metrics, each worker's sampler copies it into the gauge (`publish`)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


IN_FLIGHT_COUNT = InFlight()
IN_FLIGHT.set_function(lambda: IN_FLIGHT_COUNT.value)


class Children(Generic[_Child]):
    """Labelled children by value, created once; past LABEL_LIMIT values share "other"."""

    __slots__ = ("_by_value", "_metric")

    def __init__(self, metric: _Child) -> None:
        self._metric: _Child = metric
        self._by_value: dict[str, _Child] = {}

    def get(self, value: str) -> _Child:
        child = self._by_value.get(value)
        if child is None:
            label = value if len(self._by_value) < LABEL_LIMIT else "other"
            child = self._by_value[value] = self._metric.labels(label)
        return child


STATUS_CHILDREN = tuple(RESPONSES.labels(name) for name in STATUS_CLASSES)
JOB_CHILDREN = {outcome: JOBS.labels(outcome) for outcome in ("ok", "retried", "dead")}
REDIS_CHILDREN = Children(REDIS_SECONDS)
REDIS_ERROR_CHILDREN = Children(REDIS_ERRORS)


def observe_job(outcome: JobOutcome) -> None:
    """Count one finished job attempt; the jobs helper calls it."""
    try:
        JOB_CHILDREN[outcome].inc()
    except KeyError:
        raise ValueError(f"unknown job outcome {outcome!r}: use ok, retried or dead") from None


_sources: dict[str, Source | None] = {"sessions": None, "queue": None}
_source_gauges = {"sessions": ACTIVE_SESSIONS, "queue": QUEUE_LENGTH}


def set_active_sessions_source(source: Source | None) -> None:
    """Count active sessions at scrape time (see `count_mongo_sessions`, `count_redis_sessions`)."""
    _sources["sessions"] = source


def set_queue_length_source(source: Source | None) -> None:
    """Read the job queue's length at scrape time; the jobs helper sets it."""
    _sources["queue"] = source


async def refresh_sources(timeout_s: float = 2.0) -> None:
    """Evaluate the scrape-time sources concurrently; a failing one reads NaN, not stale."""
    names = [name for name, source in _sources.items() if source is not None]
    results = await asyncio.gather(
        *(_read(name, _sources[name], timeout_s) for name in names), return_exceptions=False
    )
    for name, value in zip(names, results, strict=True):
        _source_gauges[name].set(value)


async def _read(name: str, source: Source | None, timeout_s: float) -> float:
    assert source is not None
    try:
        return float(await wait_at_most(source(), timeout_s))
    except Exception:
        logger.warning("metrics source %r failed", name, exc_info=True)
        return math.nan
