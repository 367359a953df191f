"""`import vibetuner` and `vibetuner --help` must not pull in the web or database stack, and a
generated app's worker starts without what its first page does not need."""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests._scaffold import VIBETUNER, clean_env
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.testing import RedisServer

HEAVY = ("fastapi", "starlette", "pymongo", "beanie", "jinja2", "copier", "granian", "coredis",
         "aioboto3", "botocore", "boto3")  # fmt: skip


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_vibetuner_is_light() -> None:
    loaded = _modules_after("import vibetuner")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_cli_help_is_light() -> None:
    code = (
        "import sys; sys.argv = ['vibetuner', '--help']\n"
        "from vibetuner.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = {m.split(".")[0] for m in _modules_after(code)}
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_htmx_helpers_do_not_load_fastapi() -> None:
    """Helpers an app's non-web code may use (htmx, i18n, tasks) stay off the web stack."""
    loaded = {m.split(".")[0] for m in _modules_after("from vibetuner import htmx, gettext, task")}
    assert "fastapi" not in loaded and "jinja2" not in loaded


def test_the_test_plugin_is_thin() -> None:
    """pytest loads the plugin in every test run; it loads test support only in fixtures."""
    loaded = _modules_after("import vibetuner.testing._plugin")
    assert not {m.split(".")[0] for m in loaded} & {*HEAVY, "playwright", "aiosmtpd"}
    assert not {m for m in loaded if m.startswith("vibetuner.testing.")} - {
        "vibetuner.testing._plugin"
    }


# -- the generated app's entry module (issue #15, item 4) ---------------------------------

OFF_THE_START_PATH = {
    "coredis": "Redis loads with its first use (a session, a job), not at startup",
    "sse_starlette": "live streams load with the first stream",
    "uvicorn": "sse-starlette's shutdown hook",
    "zxcvbn": "SECRET_KEY is scored in a child process",
    "prometheus_client": "metrics are off in prod until configured",
    "streaq": "jobs load when one is queued",
    "babel": "formatting loads on first use",
    "authlib": "OAuth loads with a sign-in through a provider",
    "joserfc": "OAuth loads with a sign-in through a provider",
    "webauthn": "passkeys load with the first passkey ceremony",
    "OpenSSL": "passkeys load with the first passkey ceremony (webauthn uses pyOpenSSL)",
    "cbor2": "passkeys load with the first passkey ceremony",
    "aioboto3": "S3 loads with the first upload to S3",
    "botocore": "S3 loads with the first upload to S3",
    "boto3": "S3 loads with the first upload to S3",
    "hypothesis": "test support never loads in an app",
    "typer": "the CLI is the launcher's, not the app's",
    "click": "the CLI is the launcher's, not the app's",
    "rich": "the CLI is the launcher's, not the app's",
    "copier": "the scaffold is the CLI's",
    "tarfile": "backups load with the first backup, in the job worker",
    "wsgiref": "METRICS_PORT's own server loads only when METRICS_PORT is set",
    "email.policy": "the stdlib's modern email classes load with the first message sent",
}

# An anonymous GET / on a prod worker, by raw ASGI (an HTTP client would load its own stack).
SERVE_HOME = """
import asyncio, json, sys
sys.path.insert(0, "src")
import app.frontend
imported = sorted(sys.modules)

async def home():
    application, sent = app.frontend.app, []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "scheme": "http",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000)}
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    async with application.router.lifespan_context(application):
        await application(scope, receive, send)
    return sent[0]["status"]

status = asyncio.run(home())
print(json.dumps({"imported": imported, "served": sorted(sys.modules), "status": status}))
"""


@pytest.fixture(scope="module")
def generated_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo app as `make demo` makes it, rendered only: its code runs on this venv."""
    dest = tmp_path_factory.mktemp("light") / "demo"
    command = [VIBETUNER, "scaffold", "new", str(dest), "--defaults", "--no-install", "--no-git",
               "--data", "project_name=Demo"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, env=clean_env(), timeout=300)
    return dest


def test_the_generated_app_starts_and_serves_its_home_page_light(
    generated_app: Path, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> None:
    """`app.frontend` in production, with Redis and jobs configured: importing it, starting
    it and serving an anonymous `/` loads none of what that page does not need."""
    env = clean_env(
        ENVIRONMENT="prod", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=f"{vibetuner_mongo.url}_light", REDIS_URL=redis_server.url,
        BASE_URL="http://127.0.0.1", FORCE_HTTPS="false", SMTP_HOST="127.0.0.1",
        SMTP_PORT="2525", SMTP_SECURITY="none", MAIL_FROM="Demo <no-reply@demo.test>",
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", SERVE_HOME], cwd=generated_app, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["status"] == 200
    for stage in ("imported", "served"):
        loaded = {off for off in OFF_THE_START_PATH for name in found[stage]
                  if name == off or name.startswith(f"{off}.")}  # fmt: skip
        assert not loaded, {name: OFF_THE_START_PATH[name] for name in loaded} | {"at": stage}
