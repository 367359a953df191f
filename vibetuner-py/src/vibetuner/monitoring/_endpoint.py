"""GET /metrics: Prometheus text for scrapers that hold the token or sit in allowed networks.

prometheus_client loads with the first scrape or the first measurement (`_registry`): an app
with metrics off never loads it."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from vibetuner.config import get_settings
from vibetuner.server._net import in_networks, is_loopback_host, parse_networks

if TYPE_CHECKING:
    from vibetuner.config import Settings

logger = logging.getLogger("vibetuner.monitoring")

LOOPBACK = ("127.0.0.0/8", "::1/128")
FORWARDED = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
DEV_ONLY = (
    "In development, /metrics answers only at localhost or 127.0.0.1 "
    "(or to METRICS_TOKEN / METRICS_ALLOW)."
)


def metrics_enabled(settings: Settings) -> bool:
    """METRICS_ENABLED wins; unset, metrics are on in dev and in prod once access is configured."""
    if settings.metrics_enabled is not None:
        return settings.metrics_enabled
    return (
        not settings.is_prod or settings.metrics_token is not None or bool(settings.metrics_allow)
    )


def access_status(
    settings: Settings, client_host: str | None, headers: Iterable[tuple[bytes, bytes]]
) -> int | None:
    """None to serve the scrape, else the refusal: 401 (token expected) or 403.

    Allowed networks only count for direct connections: a request carrying forwarding
    headers came through a proxy, whose own address proves nothing, so it needs the token.
    With neither token nor networks configured, dev serves requests whose Host is this
    machine (a DNS-rebinding page names its own host), and prod only loopback clients.
    """
    authorization = b""
    proxied = False
    host: str | None = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"host":
            host = value.decode("latin-1")
        elif name in FORWARDED:
            proxied = True
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    scheme, _, presented = authorization.partition(b" ")
    bearer = scheme.lower() == b"bearer"
    if token and bearer and hmac.compare_digest(presented.strip(), token.encode()):
        return None
    allow = settings.metrics_allow
    if not token and not allow:
        if not settings.is_prod:
            return None if is_loopback_host(host) else 403
        allow = list(LOOPBACK)
    if allow and not proxied and _in_networks(client_host, allow):
        return None
    return 401 if token else 403


def _in_networks(host: str | None, allow: list[str]) -> bool:
    def skip(entry: str) -> None:
        logger.warning("METRICS_ALLOW entry %r is not a network; ignored", entry)

    return in_networks(host, parse_networks(allow, on_invalid=skip))


async def metrics_endpoint(request: Request) -> Response:
    """The scrape: 404 when metrics are off, 401/403 when refused, else the exposition."""
    settings = get_settings()
    if not metrics_enabled(settings) or settings.metrics_port is not None:
        raise HTTPException(404)  # off, or served on METRICS_PORT only
    client = request.scope.get("client")
    refused = access_status(settings, client[0] if client else None, request.scope["headers"])
    if refused == 401:
        raise HTTPException(401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if refused is not None:
        raise HTTPException(refused, None if settings.is_prod else DEV_ONLY)
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # off startup: on scrape

    from vibetuner.monitoring._registry import REGISTRY, refresh_sources  # prometheus_client

    await refresh_sources()
    return Response(
        generate_latest(REGISTRY),
        headers={"content-type": CONTENT_TYPE_LATEST, "cache-control": "no-store"},
    )
