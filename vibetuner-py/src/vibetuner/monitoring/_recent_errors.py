"""The last server errors (500s) this worker answered, for the debug console.

A bounded ring in memory, per worker process: it costs nothing on the way to a 500 and
never fails when the database is the thing that broke. With REDIS_URL set, the error page
also shares each one with the other workers (`services.server_errors`); the logs, which
carry the same request id, hold every worker's in any case.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

RING_SIZE = 100
MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class ServerError:
    at: datetime
    request_id: str
    method: str
    path: str
    exception: str
    message: str


_ring: deque[ServerError] = deque(maxlen=RING_SIZE)


def record_server_error(request_id: str, method: str, path: str, exc: BaseException) -> ServerError:
    """Keep one 500 (path already redacted by the caller); the oldest falls off."""
    error = ServerError(
        at=datetime.now(UTC),
        request_id=request_id,
        method=method,
        path=path[:MESSAGE_LIMIT],
        exception=type(exc).__qualname__,
        message=str(exc)[:MESSAGE_LIMIT],
    )
    _ring.append(error)
    return error


def recent_server_errors() -> list[ServerError]:
    """Newest first."""
    return list(reversed(_ring))
