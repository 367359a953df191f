"""Liveness and readiness probes for load balancers and container healthchecks."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from vibetuner import _redis, mongo
from vibetuner.config import get_settings

router = APIRouter(prefix="/health", tags=["health"], include_in_schema=False)

PONG = b'{"status":"ok"}'


@router.get("/ping")
async def ping() -> Response:
    """Alive: answers without touching any dependency."""
    return Response(PONG, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/ready")
async def ready() -> JSONResponse:
    """Ready: every configured dependency answers; 503 names the ones that do not."""
    checks = {"mongodb": mongo.ping()}
    if get_settings().redis_url:
        checks["redis"] = _redis.ping_redis()
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    failing = sorted(name for name, ok in results.items() if not ok)
    if failing:
        return JSONResponse(
            {"status": "unavailable", "failing": failing, "checks": results}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": results})
