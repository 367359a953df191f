"""Production is production (issue #14, item 1): `run prod` never serves what dev serves.

One test per defence, each against real servers: `vibetuner run prod` refusing dev settings,
the scaffold's dev-only .env and its justfile, dev pages answering loopback Hosts only, prod's
absolute URLs from BASE_URL, the host check with its probe exemptions, security headers on the
HTTPS redirect, and `doctor --deploy` naming each misconfiguration. Last, a scaffolded app run
as its justfile runs it serves none of the dev routes.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tests._scaffold import ROOT, VIBETUNER, prod_recipe, serving_prod
from vibetuner import create_app, setup_middleware
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import ConfigError
from vibetuner.server._net import free_port, is_loopback_host
from vibetuner.testing import SMTPSink, csrf_token_of

STRONG = "q8Vn2Lr5Xw9Zt1Kb7Hd3Jm6Pc4Sf0Gy-Ua_Eo"
BASE = "https://app.example.com"
HTML = {"Accept": "text/html"}
DEV_PAGES = ("/dev/outbox", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
             "/__vibetuner__/livereload", "/metrics")  # fmt: skip
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy",
                    "content-security-policy", "strict-transport-security")  # fmt: skip
OTHER_SETTINGS = ("ALLOWED_HOSTS", "BASE_URL", "FORCE_HTTPS", "TRUSTED_PROXIES", "METRICS_TOKEN",
                  "METRICS_ALLOW", "METRICS_ENABLED", "EMAIL_PROVIDER", "SMTP_HOST", "SMTP_PORT",
                  "SMTP_SECURITY", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "OIDC_PROVIDERS",
                  "GOOGLE_CLIENT_ID", "STORAGE_BACKEND", "LANGUAGE_URL_PREFIX")  # fmt: skip


@pytest.fixture
def env(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> Iterator[pytest.MonkeyPatch]:
    """Clean settings on a fresh database (dev until a test says prod), fresh stores."""
    from vibetuner.services.email import reset_email_service
    from vibetuner.services.ratelimit import reset_rate_limit_store
    from vibetuner.services.sessions import get_session_store

    for name in OTHER_SETTINGS:
        settings_env.delenv(name, raising=False)
    settings_env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_prod_{uuid.uuid4().hex[:8]}")
    resets = (get_session_store.cache_clear, reset_rate_limit_store, reset_email_service)
    for reset in resets:
        reset()
    yield settings_env
    for reset in resets:
        reset()


def _prod(env: pytest.MonkeyPatch, **settings: str) -> None:
    values = {"ENVIRONMENT": "prod", "SECRET_KEY": STRONG, "BASE_URL": BASE,
              "SMTP_HOST": "127.0.0.1", **settings}  # fmt: skip
    for name, value in values.items():
        env.setenv(name, value)


@asynccontextmanager
async def _served(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The framework's app (create_app + setup_middleware) started, with a client on `base_url`;
    every request names that URL's host, as a browser would."""
    app: FastAPI = create_app()
    setup_middleware(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def _vibetuner(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200"}
    return subprocess.run(
        [VIBETUNER, *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


# --- `run prod` with dev settings ---------------------------------------------------------


def test_run_prod_refuses_dev_settings_with_the_fix(tmp_path: Path) -> None:
    """The dev .env (ENVIRONMENT=dev, DEBUG=true) stops `run prod` before anything starts; so
    does DEBUG=true under ENVIRONMENT=prod, and the default ENVIRONMENT (dev) too."""
    (tmp_path / ".env").write_text("ENVIRONMENT=dev\nDEBUG=true\n")
    ready = {"SECRET_KEY": STRONG, "BASE_URL": BASE, "SMTP_HOST": "127.0.0.1",
             "DATABASE_URL": f"mongodb://127.0.0.1:{free_port()}/app"}  # fmt: skip
    dev_env = _vibetuner("run", "prod", cwd=tmp_path, **ready)
    debug = _vibetuner("run", "prod", cwd=tmp_path, **ready, ENVIRONMENT="prod")
    (tmp_path / ".env").unlink()
    default = _vibetuner("run", "prod", cwd=tmp_path, **ready)
    for result, said in ((dev_env, "ENVIRONMENT=dev, DEBUG=true"), (debug, "(DEBUG=true;"),
                         (default, "(ENVIRONMENT=dev;")):  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert said in result.stderr, result.stderr
        assert "ENVIRONMENT=prod DEBUG=false vibetuner run prod" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 4


def test_prod_app_refuses_debug(env: pytest.MonkeyPatch) -> None:
    """Served by anything else than `run prod`, a prod app with DEBUG=true does not start."""
    _prod(env, DEBUG="true")
    with pytest.raises(ConfigError, match="DEBUG=true") as refused:
        create_app()
    assert refused.value.fix is not None and "DEBUG=false" in refused.value.fix


# --- the scaffold: .env is dev-only, production sets itself ------------------------------


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One app from this checkout's template (not installed: this venv's vibetuner runs it)."""
    from vibetuner import __version__
    from vibetuner.cli._template_repo import snapshot
    from vibetuner.cli.scaffold import render, template_data

    root = tmp_path_factory.mktemp("prod-is-prod")
    source = snapshot(ROOT, __version__, root / "cache")
    answers = {"project_name": "Prod Is Prod", "background_jobs": False,
               "fqdn": "app.example.com"}  # fmt: skip
    render(root / "app", template_data(answers), defaults=True, source=source)
    return root / "app"


def test_scaffold_env_is_dev_only_and_prod_sets_production(scaffolded: Path) -> None:
    env = (scaffolded / ".env").read_text()
    assert env.startswith("# DEVELOPMENT ONLY"), env[:200]
    assert "\nENVIRONMENT=dev\n" in env and "\nDEBUG=true\n" in env
    assert prod_recipe(scaffolded) == {"ENVIRONMENT": "prod", "DEBUG": "false"}
    dockerfile = (scaffolded / "Dockerfile").read_text()
    assert "ENVIRONMENT=prod \\\n    DEBUG=false \\\n" in dockerfile
    compose = (scaffolded / "compose.prod.yml").read_text()
    assert '    ENVIRONMENT: prod\n    DEBUG: "false"\n' in compose
    assert ".env\n" in (scaffolded / ".dockerignore").read_text(), "the image never sees .env"


# --- dev pages answer loopback Hosts only -------------------------------------------------


def test_loopback_hosts() -> None:
    for host in ("localhost", "localhost:8000", "app.localhost:8000", "127.0.0.1:8000",
                 "127.9.9.9", "[::1]:8000", "LOCALHOST."):  # fmt: skip
        assert is_loopback_host(host), host
    for host in (None, "", "rebound.example", "127.0.0.1.nip.io", "localhost.example.com",
                 "10.0.0.1:8000", "[::2]", "0.0.0.0"):  # fmt: skip
        assert not is_loopback_host(host), host


async def test_dev_pages_answer_loopback_hosts_only(env: pytest.MonkeyPatch) -> None:
    """A DNS-rebinding page names its own host: it gets 403 on every dev page."""
    env.setenv("DEBUG", "true")
    async with _served("http://rebound.example:8000") as rebound:
        refused = {path: await rebound.request(_method(path), path, headers=HTML)
                   for path in DEV_PAGES}  # fmt: skip
        page = await rebound.get("/auth/login")
    for path, response in refused.items():
        assert response.status_code == 403, path
        assert _method(path) == "HEAD" or "localhost or 127.0.0.1" in response.text, path
    assert page.status_code == 200, "other pages answer any Host in dev"
    for base in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"):
        async with _served(base) as local:
            for path in DEV_PAGES:
                response = await local.request(_method(path), path)
                assert response.status_code == 200, (base, path, response.status_code)


def _method(path: str) -> str:
    """HEAD for the live-reload stream (it never ends; HEAD stops at its headers)."""
    return "HEAD" if path == "/__vibetuner__/livereload" else "GET"


# --- prod: absolute URLs from BASE_URL ----------------------------------------------------


async def test_the_slash_redirect_keeps_the_language_prefix_on_base_url(
    env: pytest.MonkeyPatch,
) -> None:
    """`/es/auth/login/` leads to `/es/auth/login` (not to the English page), on BASE_URL."""
    _prod(env, ALLOWED_HOSTS='["app.example.com", "alias.example.com"]',
          SUPPORTED_LANGUAGES='["en", "es"]', LANGUAGE_URL_PREFIX="true")  # fmt: skip
    async with _served("https://alias.example.com") as alias:
        slash = await alias.get("/es/auth/login/?next=/x")
        bare = await alias.get("/auth/login/")
    assert slash.status_code == 307 and slash.headers["location"] == f"{BASE}/es/auth/login?next=/x"
    assert bare.status_code == 307 and bare.headers["location"] == f"{BASE}/auth/login"


async def test_prod_absolute_urls_come_from_base_url(env: pytest.MonkeyPatch) -> None:
    """An allowed alias (or a probe path, which skips the host check) never leaks its Host
    into a magic link, an OAuth callback, the HTTPS redirect or the trailing-slash redirect."""
    with SMTPSink() as smtp:
        _prod(env, SMTP_HOST=smtp.host, SMTP_PORT=str(smtp.port), SMTP_SECURITY="none",
              ALLOWED_HOSTS='["app.example.com", "alias.example.com"]',
              GITHUB_CLIENT_ID="gh", GITHUB_CLIENT_SECRET="gh-secret")  # fmt: skip
        async with _served("https://alias.example.com") as alias:
            login = await alias.get("/auth/login", headers=HTML)
            form = {"email": "ada@example.com", "csrf_token": csrf_token_of(login.text)}
            sent = await alias.post("/auth/magic-link", data=form, headers=HTML)
            oauth = await alias.get("/auth/oauth/github/start")
            plain = await alias.get("http://alias.example.com/auth/login?next=/x")
            slash = await alias.get("/auth/login/?next=/x")
            probe = await alias.get("https://rebound.example/health/ready/")
        smtp.wait_for(1)
    assert sent.status_code == 200
    magic = [link for link in smtp.links() if "/auth/magic/" in link]
    assert len(magic) == 1 and magic[0].startswith(f"{BASE}/auth/magic/"), magic
    assert oauth.status_code == 303
    callback = parse_qs(urlsplit(oauth.headers["location"]).query)["redirect_uri"]
    assert callback == [f"{BASE}/auth/oauth/github/callback"]
    assert plain.status_code == 308
    assert plain.headers["location"] == f"{BASE}/auth/login?next=/x"
    assert slash.status_code == 307
    assert slash.headers["location"] == f"{BASE}/auth/login?next=/x"
    assert probe.status_code == 307 and probe.headers["location"] == f"{BASE}/health/ready"


# --- prod: a foreign Host gets 400; probes are spared --------------------------------------


async def test_prod_answers_base_url_host_only_but_spares_probes(
    env: pytest.MonkeyPatch,
) -> None:
    """ALLOWED_HOSTS defaults to BASE_URL's host. Probes and scrapes come by pod IP over
    plain HTTP: no 400, no HTTPS redirect, and /metrics still wants its token."""
    _prod(env, METRICS_TOKEN="scrape-token")
    async with _served("http://10.1.2.3:8000") as pod:
        foreign = await pod.get("/auth/login")
        foreign_https = await pod.get("https://rebound.example/auth/login")
        ping = await pod.get("/health/ping")
        ready = await pod.get("/health/ready")
        anonymous = await pod.get("/metrics")
        scrape = await pod.get("/metrics", headers={"Authorization": "Bearer scrape-token"})
        own = await pod.get(f"{BASE}/auth/login")
    assert foreign.status_code == 400 and foreign_https.status_code == 400
    assert "Invalid host header" in foreign.text
    assert ping.status_code == 200 and ready.status_code == 200
    assert anonymous.status_code == 401
    assert scrape.status_code == 200 and "vibetuner_http_request_duration_seconds" in scrape.text
    assert own.status_code == 200


# --- prod: the HTTPS redirect carries the security headers ---------------------------------


async def test_https_redirect_carries_security_headers(env: pytest.MonkeyPatch) -> None:
    _prod(env)
    async with _served("http://app.example.com") as client:
        redirect = await client.get("/auth/login")
        refused = await client.get("http://rebound.example/auth/login")
    assert redirect.status_code == 308
    assert refused.status_code == 400
    for response in (redirect, refused):
        missing = [name for name in SECURITY_HEADERS if name not in response.headers]
        assert missing == [], (response.status_code, missing)


# --- doctor --deploy names each misconfiguration ------------------------------------------


def test_doctor_deploy_names_each_prod_misconfiguration(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ENVIRONMENT=dev\nDEBUG=true\n")
    bad = {"SECRET_KEY": STRONG, "BASE_URL": "http://app.example.com",
           "ALLOWED_HOSTS": '["www.example.com"]'}  # fmt: skip
    result = _vibetuner("doctor", "--deploy", cwd=tmp_path, **bad)
    out = result.stdout
    assert result.returncode == 1 and "Traceback" not in out + result.stderr
    assert "✗ environment: ENVIRONMENT=dev" in out and "refuses ENVIRONMENT=dev" in out
    assert "✗ debug: DEBUG=True" in out and "refuses DEBUG=true" in out
    assert "✗ https: BASE_URL=http://app.example.com" in out and "is not HTTPS" in out
    assert "✗ allowed hosts: www.example.com: BASE_URL's host app.example.com" in out
    assert "Add app.example.com to ALLOWED_HOSTS" in out

    unset = _vibetuner("doctor", "--deploy", cwd=tmp_path, SECRET_KEY=STRONG)
    assert "✗ https: BASE_URL is not set" in unset.stdout
    assert "Set BASE_URL=https://your-domain" in unset.stdout
    anyone = _vibetuner("doctor", "--deploy", cwd=tmp_path, ENVIRONMENT="prod", DEBUG="false",
                        BASE_URL=BASE, ALLOWED_HOSTS='["*"]')  # fmt: skip
    assert "✗ allowed hosts: *: any Host is answered" in anyone.stdout
    weak = _vibetuner("doctor", "--deploy", cwd=tmp_path, ENVIRONMENT="prod", DEBUG="false",
                      BASE_URL=BASE, SECRET_KEY="CHANGE_ME_CHANGE_ME_CHANGE_ME_CHANGE_ME",
                      TRUSTED_PROXIES='["0.0.0.0/0"]', METRICS_ALLOW='["::/0"]')  # fmt: skip
    assert "✗ secret key" in weak.stdout and "vibetuner secret generate" in weak.stdout
    assert "✗ trusted proxies: 0.0.0.0/0" in weak.stdout and "never 0.0.0.0/0" in weak.stdout
    assert "✗ metrics: METRICS_ALLOW lets every address scrape" in weak.stdout
    right = _vibetuner("doctor", "--deploy", cwd=tmp_path, ENVIRONMENT="prod", DEBUG="false",
                       BASE_URL=BASE, TRUSTED_PROXIES='["10.0.0.0/8"]',
                       METRICS_TOKEN="t" * 40)  # fmt: skip
    assert "✓ metrics: token" in right.stdout
    for check in ("environment", "debug", "https", "allowed hosts", "trusted proxies"):
        assert f"✓ {check}" in right.stdout, right.stdout


# --- a scaffolded app, run as its justfile runs it -----------------------------------------


@pytest.fixture
def prod_app(scaffolded: Path, tmp_path: Path) -> Iterator[str]:
    """The app's prod recipe with its own .env (ENVIRONMENT=dev, DEBUG=true) and the settings
    prod asks for (DATABASE_URL on a real MongoDB, BASE_URL, a mail provider)."""
    with serving_prod(scaffolded, VIBETUNER, tmp_path) as (base, _mongo):
        yield base


@pytest.mark.slow
def test_scaffolded_app_under_just_prod_serves_no_dev_route(prod_app: str) -> None:
    for path in (*DEV_PAGES, "/dev/outbox/x/raw", "/docs/"):
        response = httpx.get(f"{prod_app}{path}", headers=HTML)
        assert response.status_code == 404, (path, response.status_code)
    home = httpx.get(f"{prod_app}/")
    assert home.status_code == 200 and "livereload" not in home.text
    assert httpx.get(f"{prod_app}/", headers={"Host": "rebound.example"}).status_code == 400
