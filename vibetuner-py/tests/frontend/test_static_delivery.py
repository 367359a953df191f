"""Static delivery: precompressed assets by Accept-Encoding, an ETag per coding, immutable
caching, CORS for fonts, and STATIC_URL (a CDN origin) in the links and the CSP."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import brotli
import httpx
import pytest

from vibetuner import create_app
from vibetuner.config import Settings, get_settings, reset_settings
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import ConfigError
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.frontend._static import IMMUTABLE
from vibetuner.frontend._templating import get_statics, get_templates
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group
from vibetuner.services.sessions import get_session_store
from vibetuner.testing._live import server_env, wait_until_serving
from vibetuner.testing._mail import SMTPSink
from vibetuner.testing._required import missing

CSS = b"/* bundle */\n" + b".btn{color:red;padding:1rem}\n" * 400
FONT = bytes(range(256)) * 8
CDN = "https://cdn.example.com"
GOOD_SECRET = "kR7#vQ2!mX9@pL4$wN8^zT3&bH6*cJ5%"


def _statics(root: Path, *, compressed: bool = True) -> Path:
    statics = root / "assets" / "statics"
    (statics / "css").mkdir(parents=True)
    (statics / "js").mkdir()
    (statics / "fonts").mkdir()
    (statics / "css" / "bundle.css").write_bytes(CSS)
    (statics / "js" / "bundle.js").write_text("console.log(1)")
    (statics / "fonts" / "inter.woff2").write_bytes(FONT)
    if compressed:  # as `build-prod` leaves them: written after the file
        (statics / "css" / "bundle.css.br").write_bytes(brotli.compress(CSS))
        (statics / "css" / "bundle.css.gz").write_bytes(gzip.compress(CSS))
    return statics


@asynccontextmanager
async def _app(
    settings_env: pytest.MonkeyPatch, mongo: EmbeddedMongo
) -> AsyncIterator[httpx.AsyncClient]:
    settings_env.setenv("DATABASE_URL", mongo.url)
    settings_env.setenv("SESSION_BACKEND", "memory")  # the pages here keep no session
    get_session_store.cache_clear()
    app = create_app()
    setup_middleware(app)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c
    finally:
        get_session_store.cache_clear()


@dataclass
class Sent:
    """A response with its body as sent: httpx's `.content` would undo the content coding."""

    status_code: int
    headers: httpx.Headers
    content: bytes


async def _raw(client: httpx.AsyncClient, url: str, **headers: str) -> Sent:
    async with client.stream("GET", url, headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return Sent(response.status_code, response.headers, body)


async def _css_url(client: httpx.AsyncClient) -> str:
    page = await client.get("/auth/login")
    found = re.search(r'href="([^"]*/css/bundle\.css)"', page.text)
    assert found, page.text[:2000]
    return found.group(1)


async def test_br_is_sent_to_a_client_that_accepts_it_and_is_smaller(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    _statics(tmp_path)
    async with _app(settings_env, vibetuner_mongo) as client:
        url = await _css_url(client)
        sent = await _raw(client, url, **{"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert sent.status_code == 200
    assert sent.headers["content-encoding"] == "br"
    assert sent.headers["vary"] == "Accept-Encoding"
    assert sent.headers["content-type"] == "text/css; charset=utf-8"
    assert sent.headers["cache-control"] == IMMUTABLE
    assert len(sent.content) < len(CSS) // 10
    assert int(sent.headers["content-length"]) == len(sent.content)
    assert brotli.decompress(sent.content) == CSS


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("BR;Q=0.5", "br"),
        ("*", "br"),
        ("*, br;q=0", "gzip"),
        ("x-gzip", "gzip"),
        ("identity", None),
        ("", None),
        ("deflate, zstd", None),
        ("br;q=0, gzip;q=0", None),
        ("br;q=nan, gzip;q=2", None),
    ],
)
async def test_the_best_coding_the_client_accepts(
    settings_env: pytest.MonkeyPatch,
    tmp_path: Path,
    vibetuner_mongo: EmbeddedMongo,
    accept: str,
    coding: str | None,
) -> None:
    _statics(tmp_path)
    async with _app(settings_env, vibetuner_mongo) as client:
        sent = await _raw(client, await _css_url(client), **{"Accept-Encoding": accept})
    assert sent.status_code == 200
    assert sent.headers.get("content-encoding") == coding
    assert sent.headers["vary"] == "Accept-Encoding"
    decode = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[coding]
    assert decode(sent.content) == CSS


async def test_each_coding_has_its_own_etag_and_revalidates_to_304(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    _statics(tmp_path)
    codings = {"br": "br", "gzip": "gzip", "identity": None}
    async with _app(settings_env, vibetuner_mongo) as client:
        url = await _css_url(client)
        first = {a: await _raw(client, url, **{"Accept-Encoding": a}) for a in codings}
        etags = {a: r.headers["etag"] for a, r in first.items()}
        again = {
            a: await _raw(client, url, **{"Accept-Encoding": a, "If-None-Match": etags[a]})
            for a in codings
        }
        listed = await _raw(client, url, **{
            "Accept-Encoding": "br", "If-None-Match": f'"other", W/{etags["br"]}'
        })  # fmt: skip
        crossed = await _raw(client, url, **{
            "Accept-Encoding": "gzip", "If-None-Match": etags["br"]
        })  # fmt: skip
    assert len(set(etags.values())) == 3, etags
    assert all(re.fullmatch(r'"[0-9a-f]{12}"', etag) for etag in etags.values())
    for accept, response in again.items():
        assert response.status_code == 304, accept
        assert response.content == b""
        assert response.headers["etag"] == etags[accept]
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["cache-control"] == IMMUTABLE
    assert listed.status_code == 304
    # A cached br copy does not validate the gzip representation: it is sent whole.
    assert crossed.status_code == 200 and crossed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(crossed.content) == CSS


async def test_dev_without_compressed_files_sends_the_file_itself(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    _statics(tmp_path, compressed=False)
    async with _app(settings_env, vibetuner_mongo) as client:
        sent = await _raw(client, await _css_url(client), **{"Accept-Encoding": "br, gzip"})
    assert sent.status_code == 200 and sent.content == CSS
    assert "content-encoding" not in sent.headers and "vary" not in sent.headers
    assert sent.headers["cache-control"] == IMMUTABLE


async def test_a_compressed_file_older_than_its_file_is_never_sent(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """`npm run dev` rebuilds bundle.css after an earlier `build-prod` left bundle.css.br."""
    statics = _statics(tmp_path)
    rebuilt = CSS.replace(b"red", b"blue")
    bundle = statics / "css" / "bundle.css"
    bundle.write_bytes(rebuilt)
    stamp = (statics / "css" / "bundle.css.br").stat().st_mtime_ns + 1_000_000_000
    os.utime(bundle, ns=(stamp, stamp))
    async with _app(settings_env, vibetuner_mongo) as client:
        sent = await _raw(client, await _css_url(client), **{"Accept-Encoding": "br, gzip"})
    assert sent.status_code == 200
    assert "content-encoding" not in sent.headers
    assert sent.content == rebuilt


async def test_fonts_get_cors_and_their_type(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """A CDN serves fonts to the app's pages, another origin: the browser needs CORS."""
    _statics(tmp_path)
    async with _app(settings_env, vibetuner_mongo) as client:
        font = await client.get(get_statics().url_for("fonts/inter.woff2"),
                                headers={"Origin": "https://app.example.com"})  # fmt: skip
    assert font.status_code == 200 and font.content == FONT
    assert font.headers["access-control-allow-origin"] == "*"
    assert font.headers["content-type"] == "font/woff2"
    assert font.headers["cache-control"] == IMMUTABLE


async def test_static_url_puts_assets_on_the_cdn_and_the_csp_allows_it(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    _statics(tmp_path)
    settings_env.setenv("STATIC_URL", f"{CDN}/")
    async with _app(settings_env, vibetuner_mongo) as client:
        page = await client.get("/auth/login")
        css = re.search(r'href="([^"]*/css/bundle\.css)"', page.text)
        js = re.search(r'src="([^"]*/js/bundle\.js)"', page.text)
        assert css and js
        path = css.group(1).removeprefix(CDN)
        # The CDN pulls the same path from the app; an old hash sends it to the current one.
        pulled = await client.get(path, headers={"Accept-Encoding": "br"})
        stale = await client.get(re.sub(r"/[0-9a-f]{12}/", "/000000000000/", path))
    assert re.fullmatch(rf"{CDN}/static/[0-9a-f]{{12}}/css/bundle\.css", css.group(1))
    assert re.fullmatch(rf"{CDN}/static/[0-9a-f]{{12}}/js/bundle\.js", js.group(1))
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    for directive in ("script-src", "style-src", "font-src", "img-src"):
        assert CDN in policy[directive].split(), (directive, policy)
    assert CDN not in policy["connect-src"] and CDN not in policy["default-src"]
    assert pulled.status_code == 200 and pulled.headers["content-encoding"] == "br"
    assert stale.status_code == 307 and stale.headers["location"] == path
    assert stale.headers["cache-control"] == "no-store"


async def test_the_frameworks_scripts_are_served_beside_the_apps_and_put_on_the_cdn(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """The passkeys script ships in the package, under its own hashed prefix: a CDN pulls
    it as it pulls the bundle, and no app file can shadow it."""
    statics = _statics(tmp_path)
    (statics / "_vibetuner").mkdir()  # an app file at the framework's prefix is not served
    (statics / "_vibetuner" / "js").mkdir()
    (statics / "_vibetuner" / "js" / "passkeys.js").write_text("evil()")
    settings_env.setenv("STATIC_URL", f"{CDN}/")
    async with _app(settings_env, vibetuner_mongo) as client:
        url = get_templates().env.globals["framework_static_url"]("js/passkeys.js")
        path = url.removeprefix(CDN)
        script = await client.get(path)
        stale = await client.get(re.sub(r"/[0-9a-f]{12}/", "/000000000000/", path))
        missing_file = await client.get("/static/_vibetuner/000000000000/js/nothing.js")
    assert re.fullmatch(rf"{CDN}/static/_vibetuner/[0-9a-f]{{12}}/js/passkeys\.js", url)
    assert script.status_code == 200 and "PublicKeyCredential" in script.text
    assert "evil()" not in script.text
    assert script.headers["cache-control"] == IMMUTABLE
    assert script.headers["access-control-allow-origin"] == "*"
    assert stale.status_code == 307 and stale.headers["location"] == path
    assert missing_file.status_code == 404


async def test_without_static_url_the_csp_names_no_other_origin(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    _statics(tmp_path)
    async with _app(settings_env, vibetuner_mongo) as client:
        page = await client.get("/auth/login")
    assert re.search(r'href="/static/[0-9a-f]{12}/css/bundle\.css"', page.text)
    policy = page.headers["content-security-policy"]
    assert "font-src" not in policy and "cdn" not in policy


async def test_a_missing_asset_is_404_and_not_kept_by_a_cdn(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    _statics(tmp_path)
    async with _app(settings_env, vibetuner_mongo) as client:
        missing = await client.get("/static/abc/css/nope.css")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "value",
    ["cdn.example.com", "//cdn.example.com", "ftp://cdn.example.com", "https:///path",
     "https://user:pw@cdn.example.com", "https://cdn.example.com/?v=1",
     "https://cdn.example.com/#top", "https://cdn;x.example.com", "https://cdn.example.com/a'b"],
)  # fmt: skip
def test_a_bad_static_url_is_a_clear_error_at_load(
    settings_env: pytest.MonkeyPatch, value: str
) -> None:
    settings_env.setenv("STATIC_URL", value)
    reset_settings()
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert caught.value.message.startswith(
        "Invalid setting: STATIC_URL (in the environment) should be an absolute http(s) URL"
    ), caught.value.message
    assert value not in caught.value.message


@pytest.mark.parametrize(
    ("value", "stored", "origin"),
    [
        ("https://cdn.example.com/", "https://cdn.example.com", "https://cdn.example.com"),
        ("https://CDN.example.com:8443/app/", "https://CDN.example.com:8443/app",
         "https://cdn.example.com:8443"),
        ("  ", None, None),
    ],
)  # fmt: skip
def test_a_good_static_url_is_kept_with_its_origin(
    settings_env: pytest.MonkeyPatch, value: str, stored: str | None, origin: str | None
) -> None:
    settings_env.setenv("STATIC_URL", value)
    reset_settings()
    settings = get_settings()
    assert (settings.static_url, settings.static_origin) == (stored, origin)


def test_prod_refuses_an_http_cdn_under_an_https_site() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="prod", secret_key=GOOD_SECRET, database_url="mongodb://db:27017/app",
        base_url="https://app.example.com", static_url="http://cdn.example.com",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="STATIC_URL is http:// under an https:// BASE_URL"):
        settings.check_production()
    settings.static_url = "https://cdn.example.com"
    settings.check_production()


ASSETS_JS = Path(__file__).resolve().parents[3] / "vibetuner-js" / "bin" / "vibetuner-assets.js"


def _build_prod(statics: Path) -> str:
    """`vibetuner-assets build-prod` compressing `statics` (no CSS or JS build: no npm deps)."""
    node = shutil.which("node")
    if node is None:
        missing("no node (install Node.js 20+)")
    result = subprocess.run(
        [node, str(ASSETS_JS), "build-prod", "--no-css", "--no-js", "--statics", str(statics)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_build_prod_writes_br_and_gz_beside_each_compressible_asset(tmp_path: Path) -> None:
    statics = _statics(tmp_path, compressed=False)
    (statics / "css" / "tiny.css").write_text("a{}")
    (statics / "js" / "gone.js.br").write_bytes(b"left from a file since removed")
    output = _build_prod(statics)
    css = statics / "css" / "bundle.css"
    assert brotli.decompress((statics / "css" / "bundle.css.br").read_bytes()) == CSS
    assert gzip.decompress((statics / "css" / "bundle.css.gz").read_bytes()) == CSS
    assert (statics / "css" / "bundle.css.br").stat().st_mtime_ns >= css.stat().st_mtime_ns
    assert (statics / "css" / "bundle.css.br").stat().st_size < len(CSS) // 10
    assert not (statics / "css" / "tiny.css.br").exists(), "no gain: not written"
    assert not (statics / "fonts" / "inter.woff2.br").exists(), "woff2 is compressed already"
    assert not (statics / "js" / "gone.js.br").exists()
    assert "wrote .br and .gz for" in output


def test_live_prod_server_sends_br_and_links_the_cdn(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """The must-show, end to end: assets compressed by `build-prod`, served by `vibetuner run
    prod` (Granian), a page linking them on STATIC_URL, with a CSP that allows it."""
    project = tmp_path / "project"
    package = project / "src" / "app" / "frontend"
    package.mkdir(parents=True)
    (project / "src" / "app" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(
        "from vibetuner import create_app\n"
        "from vibetuner.frontend._middleware import setup_middleware\n\n"
        "app = create_app()\nsetup_middleware(app)\n"
    )
    _build_prod(_statics(project, compressed=False))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    vibetuner = Path(sys.executable).parent / "vibetuner"
    with SMTPSink() as smtp, log.open("wb") as output:  # prod needs a mail provider; none sent
        database = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/static_live"
        env = server_env(ENVIRONMENT="prod", FORCE_HTTPS="false", SECRET_KEY=GOOD_SECRET,
                         DATABASE_URL=database,
                         SMTP_HOST=smtp.host, SMTP_PORT=str(smtp.port), SMTP_SECURITY="none",
                         BASE_URL=url, STATIC_URL=CDN)  # fmt: skip
        process = subprocess.Popen(
            [str(vibetuner), "run", "prod", "--workers", "1", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=project, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        sent, body, head = _fetch_from(process, url, log)
    assert sent.status_code == 200 and sent.headers["content-encoding"] == "br"
    assert len(body) < len(CSS) // 10 and brotli.decompress(body) == CSS
    assert sent.headers["vary"] == "Accept-Encoding"
    assert sent.headers["cache-control"] == IMMUTABLE
    assert head.status_code == 200 and head.headers["etag"] == sent.headers["etag"]
    assert head.headers["content-length"] == str(len(body))


def _fetch_from(
    process: subprocess.Popen[bytes], url: str, log: Path
) -> tuple[httpx.Response, bytes, httpx.Response]:
    """The page's CDN links and CSP checked; its bundle fetched (br, then HEAD) from the app."""
    try:
        wait_until_serving(process, url, log)
        page = httpx.get(f"{url}/auth/login")
        linked = re.search(rf'href="{CDN}(/static/[0-9a-f]{{12}}/css/bundle\.css)"', page.text)
        assert linked, page.text[:2000]
        policy = page.headers["content-security-policy"]
        assert f"style-src 'self' 'unsafe-inline' {CDN};" in policy
        assert f"font-src 'self' {CDN};" in policy
        with httpx.stream("GET", f"{url}{linked.group(1)}",
                          headers={"Accept-Encoding": "gzip, deflate, br"}) as sent:  # fmt: skip
            body = b"".join(sent.iter_raw())
        head = httpx.head(f"{url}{linked.group(1)}", headers={"Accept-Encoding": "br"})
    finally:
        stop_group(process)
    return sent, body, head


def test_an_app_template_that_includes_the_passkeys_partial_gets_the_frameworks_script(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The framework's pages write the tag themselves; `auth/_passkeys_script.html.jinja`
    stays for app templates, and names the same hashed URL with the page's nonce."""
    _statics(tmp_path)
    templates = get_templates()
    url = templates.env.globals["framework_static_url"]("js/passkeys.js")
    page = templates.env.from_string('{% include "auth/_passkeys_script.html.jinja" %}')
    html = page.render(nonce="n0nce")
    assert html.strip() == f'<script src="{url}" nonce="n0nce" defer></script>'
