"""What jobs report to /metrics: from the web app, and from the job worker's own listener."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from vibetuner.exceptions import ConfigError
from vibetuner.server._granian import serve_in_loop
from vibetuner.tasks._queue import queue_length
from vibetuner.tasks._runner import on_job_outcome

if TYPE_CHECKING:
    from vibetuner.config import Settings

logger = logging.getLogger("vibetuner.tasks")


def export_job_metrics() -> None:
    """Job outcomes (of this process's jobs) and the queue length in /metrics."""
    from vibetuner.monitoring import set_queue_length_source  # prometheus_client: metrics on

    _count_job_outcomes()
    set_queue_length_source(queue_length)


@functools.cache
def _count_job_outcomes() -> None:
    from vibetuner.monitoring import observe_job  # prometheus_client: metrics on

    on_job_outcome(lambda _task, outcome: observe_job(outcome))


def worker_metrics_host(settings: Settings) -> str:
    """WORKER_METRICS_HOST; unset, every interface in prod (its container's network), else
    only this machine."""
    return settings.worker_metrics_host or ("0.0.0.0" if settings.is_prod else "127.0.0.1")


@contextlib.asynccontextmanager
async def worker_metrics(settings: Settings) -> AsyncIterator[None]:
    """The job worker's own /metrics on WORKER_METRICS_PORT while the block runs, protected
    as the web app's is (METRICS_TOKEN, METRICS_ALLOW): its process figures, its database
    commands and pool, and its jobs. Unset port: nothing."""
    port = settings.worker_metrics_port
    if port is None:
        yield
        return
    from vibetuner.monitoring import metrics_enabled  # starlette: off the CLI's startup

    if not metrics_enabled(settings):
        logger.warning("WORKER_METRICS_PORT is set but metrics are off: set METRICS_TOKEN or "
                       "METRICS_ALLOW (or METRICS_ENABLED=true) to serve them")  # fmt: skip
        yield
        return
    from vibetuner.monitoring import metrics_app, sampling  # prometheus_client: metrics on

    host = worker_metrics_host(settings)
    export_job_metrics()
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(serve_in_loop(metrics_app(), host, port))
        except OSError as exc:
            raise ConfigError(
                f"The worker cannot serve /metrics on {host}:{port}: {exc.strerror or exc}.",
                fix="Set WORKER_METRICS_PORT to a free port, or stop the server holding it.",
            ) from exc
        await stack.enter_async_context(sampling(interval=settings.metrics_sample_interval))
        logger.info("worker metrics on http://%s:%d/metrics", host, port)
        yield
