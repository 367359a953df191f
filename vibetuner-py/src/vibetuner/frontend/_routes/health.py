"""Liveness and readiness probes for load balancers, orchestrators and container healthchecks.

On SIGTERM (`run prod` drains for SERVER_DRAIN_SECONDS) readiness turns 503 at once, so load
balancers and Kubernetes stop routing here while in-flight and late requests are still
served; liveness stays 200 until the process exits, so nothing kills a draining server.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from vibetuner.config import get_settings
from vibetuner.data import _mongo, _redis
from vibetuner.server._drain import is_draining
from vibetuner.tasks._worker import heartbeat_key

REQUIRED = frozenset({"mongodb", "redis"})
"""A missing worker is reported, not fatal: web instances still serve pages without one
(jobs wait in Redis), and `vibetuner worker-health` is the worker's own healthcheck."""

router = APIRouter(prefix="/health", tags=["health"], include_in_schema=False)

PONG = b'{"status":"ok"}'
DRAINING = b'{"status":"draining"}'


@router.get("/ping")
async def ping() -> Response:
    """Alive: answers without touching any dependency, draining or not."""
    return Response(PONG, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/ready")
async def ready() -> Response:
    """Ready: every configured dependency answers; 503 names the ones that do not, and 503
    (without asking them) once shutdown has begun."""
    if is_draining():
        return Response(
            DRAINING,
            status_code=503,
            media_type="application/json",
            headers={"Cache-Control": "no-store", "Connection": "close"},
        )
    checks = {"mongodb": _mongo.ping()}
    if get_settings().redis_url:
        checks["redis"] = _redis.ping_redis()
        checks["worker"] = _worker_heartbeat()
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    failing = sorted(name for name, ok in results.items() if not ok and name in REQUIRED)
    if failing:
        return JSONResponse(
            {"status": "unavailable", "failing": failing, "checks": results}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": results})


async def _worker_heartbeat() -> bool:
    """True when any job worker refreshed its heartbeat in Redis recently."""
    client = _redis.get_redis()
    if client is None:
        return False
    try:
        pattern = heartbeat_key(get_settings().job_queue, "*")
        async for _key in client.scan_iter(match=pattern, count=100):
            return True
    except Exception:
        return False
    return False
