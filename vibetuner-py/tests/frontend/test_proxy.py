import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.frontend._apps import raw_get
from vibetuner.frontend._proxy import CanonicalOriginMiddleware, ProxyHeadersMiddleware


async def _who(request: Request) -> JSONResponse:
    return JSONResponse(
        {"client": request.client.host if request.client else None,
         "scheme": request.url.scheme, "host": request.url.hostname}
    )  # fmt: skip


def _client(trusted: list[str], client_ip: str) -> httpx.AsyncClient:
    app = ProxyHeadersMiddleware(Starlette(routes=[Route("/", _who)]), trusted=trusted)
    transport = httpx.ASGITransport(app=app, client=(client_ip, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://internal")


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9, 10.0.0.2",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "app.example.com",
}


async def test_trusted_proxy_headers_are_applied() -> None:
    async with _client(["10.0.0.0/8"], "10.0.0.1") as http:
        who = (await http.get("/", headers=FORWARDED)).json()
    assert who == {"client": "203.0.113.9", "scheme": "https", "host": "app.example.com"}


async def test_untrusted_peers_cannot_spoof() -> None:
    async with _client(["10.0.0.0/8"], "198.51.100.7") as http:
        who = (await http.get("/", headers=FORWARDED)).json()
    assert who == {"client": "198.51.100.7", "scheme": "http", "host": "internal"}


async def test_https_redirect_spares_health_checks() -> None:
    app = CanonicalOriginMiddleware(
        Starlette(routes=[Route("/health/ready", _who), Route("/", _who)]),
        origin="https://app.example.com",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.example.com") as http:
        page = await http.get("/?q=1")
        health = await http.get("/health/ready")
    assert page.status_code == 308 and page.headers["location"] == "https://app.example.com/?q=1"
    assert health.status_code == 200


async def test_https_redirect_keeps_the_raw_path_and_never_500s() -> None:
    """The Location is the bytes that came in: `%2F` stays escaped (not turned into a real
    `/`), and a `%00` stays escaped rather than a NUL in a header (a 500 under Granian)."""
    app = CanonicalOriginMiddleware(Starlette(routes=[]), origin="https://app.example.com")
    sent = await raw_get(
        app,
        "/a\x00b/c/%2F",
        raw_path=b"/a%00b/c%2F%252F",
        query_string=b"q=%00&r=\xff",
        headers=[(b"host", b"app.example.com")],
    )
    assert sent[0]["status"] == 308
    [location] = [v for k, v in sent[0]["headers"] if k == b"location"]
    assert location == b"https://app.example.com/a%00b/c%2F%252F?q=%00&r=%FF"
