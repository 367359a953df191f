"""Monitoring: Prometheus metrics, request IDs and structured logs.

Imports are lazy: `prometheus_client`, Starlette and pymongo load only when a name from
here is first used, so `import vibetuner` stays light.

Each Granian worker is a process with its own metrics registry. `vibetuner run prod` with
several workers shares them through PROMETHEUS_MULTIPROC_DIR, so a scrape of any worker
reads them all, with each worker's CPU, memory and open files under its own `worker` label.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibetuner.monitoring._backends import (
        count_mongo_sessions,
        count_redis_sessions,
        instrument_redis,
    )
    from vibetuner.monitoring._db import MongoMetrics, mongo_metrics, track_collections
    from vibetuner.monitoring._endpoint import metrics_app, metrics_enabled, metrics_endpoint
    from vibetuner.monitoring._logging import JSONFormatter, configure_logging, redact
    from vibetuner.monitoring._middleware import MetricsMiddleware
    from vibetuner.monitoring._port import serve_metrics_port
    from vibetuner.monitoring._process import sampling
    from vibetuner.monitoring._recent_errors import (
        ServerError,
        recent_server_errors,
        record_server_error,
    )
    from vibetuner.monitoring._registry import (
        REGISTRY,
        observe_job,
        set_active_sessions_source,
        set_queue_length_source,
    )
    from vibetuner.monitoring._request_id import (
        RequestIDFilter,
        RequestIDMiddleware,
        get_request_id,
    )

_EXPORTS = {
    "JSONFormatter": "_logging",
    "MetricsMiddleware": "_middleware",
    "MongoMetrics": "_db",
    "REGISTRY": "_registry",
    "RequestIDFilter": "_request_id",
    "RequestIDMiddleware": "_request_id",
    "ServerError": "_recent_errors",
    "configure_logging": "_logging",
    "count_mongo_sessions": "_backends",
    "count_redis_sessions": "_backends",
    "get_request_id": "_request_id",
    "instrument_redis": "_backends",
    "metrics_app": "_endpoint",
    "metrics_enabled": "_endpoint",
    "mongo_metrics": "_db",
    "metrics_endpoint": "_endpoint",
    "observe_job": "_registry",
    "recent_server_errors": "_recent_errors",
    "record_server_error": "_recent_errors",
    "redact": "_logging",
    "serve_metrics_port": "_port",
    "sampling": "_process",
    "set_active_sessions_source": "_registry",
    "set_queue_length_source": "_registry",
    "track_collections": "_db",
}
__all__ = [
    "REGISTRY",
    "JSONFormatter",
    "MetricsMiddleware",
    "MongoMetrics",
    "RequestIDFilter",
    "RequestIDMiddleware",
    "ServerError",
    "configure_logging",
    "count_mongo_sessions",
    "count_redis_sessions",
    "get_request_id",
    "instrument_redis",
    "metrics_app",
    "metrics_enabled",
    "metrics_endpoint",
    "mongo_metrics",
    "observe_job",
    "recent_server_errors",
    "record_server_error",
    "redact",
    "sampling",
    "serve_metrics_port",
    "set_active_sessions_source",
    "set_queue_length_source",
    "track_collections",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
