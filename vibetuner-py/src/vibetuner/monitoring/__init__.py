"""Monitoring: Prometheus metrics, request IDs and structured logs.

Imports are lazy: `prometheus_client`, Starlette and pymongo load only when a name from
here is first used, so `import vibetuner` stays light.

Each Granian worker is a process with its own metrics registry; a scrape reads the worker
that answered it (scrape each worker, or run one worker per container).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibetuner.monitoring._backends import (
        MongoLatencyListener,
        count_mongo_sessions,
        count_redis_sessions,
        instrument_redis,
    )
    from vibetuner.monitoring._endpoint import metrics_enabled, metrics_endpoint
    from vibetuner.monitoring._logging import JSONFormatter, configure_logging, redact
    from vibetuner.monitoring._middleware import MetricsMiddleware
    from vibetuner.monitoring._port import serve_metrics_port
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
    "MongoLatencyListener": "_backends",
    "REGISTRY": "_registry",
    "RequestIDFilter": "_request_id",
    "RequestIDMiddleware": "_request_id",
    "configure_logging": "_logging",
    "count_mongo_sessions": "_backends",
    "count_redis_sessions": "_backends",
    "get_request_id": "_request_id",
    "instrument_redis": "_backends",
    "metrics_enabled": "_endpoint",
    "metrics_endpoint": "_endpoint",
    "observe_job": "_registry",
    "redact": "_logging",
    "serve_metrics_port": "_port",
    "set_active_sessions_source": "_registry",
    "set_queue_length_source": "_registry",
}
__all__ = [
    "REGISTRY",
    "JSONFormatter",
    "MetricsMiddleware",
    "MongoLatencyListener",
    "RequestIDFilter",
    "RequestIDMiddleware",
    "configure_logging",
    "count_mongo_sessions",
    "count_redis_sessions",
    "get_request_id",
    "instrument_redis",
    "metrics_enabled",
    "metrics_endpoint",
    "observe_job",
    "redact",
    "serve_metrics_port",
    "set_active_sessions_source",
    "set_queue_length_source",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
