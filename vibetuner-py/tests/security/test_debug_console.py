"""The debug console (`/_debug`): 404 for everyone but admins on every route, a prod unlock
that is signed, short-lived and single use, secrets never shown, CSRF on retry, audited."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.conftest import RedisServer
from tests.frontend.auth_support import running
from vibetuner import create_app
from vibetuner.data._mongo import get_database
from vibetuner.data.models.audit import AuditEntry
from vibetuner.frontend._debug import PREFIX
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.services.unlock import issue_token
from vibetuner.services.users import create_user
from vibetuner.tasks import JobFailed, list_dead, task
from vibetuner.testing import csrf_token_of, sign_in_as

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]

HTML = {"Accept": "text/html"}
STRONG = secrets.token_urlsafe(48)


async def _app(env: pytest.MonkeyPatch, *, prod: bool) -> FastAPI:
    if prod:
        env.setenv("ENVIRONMENT", "prod")
        env.setenv("SECRET_KEY", STRONG)
        env.setenv("BASE_URL", "https://testserver")
    from vibetuner.config import reset_settings

    reset_settings()
    application = create_app()
    setup_middleware(application)
    return application


@pytest.fixture(params=["dev", "prod"])
async def any_app(
    request: pytest.FixtureRequest, auth_env: pytest.MonkeyPatch, no_app_tasks: None
) -> AsyncIterator[FastAPI]:
    application = await _app(auth_env, prod=request.param == "prod")
    async with running(application):
        yield application


@pytest.fixture
async def prod_app(auth_env: pytest.MonkeyPatch, no_app_tasks: None) -> AsyncIterator[FastAPI]:
    application = await _app(auth_env, prod=True)
    async with running(application):
        yield application


@pytest.fixture
async def dev_app(auth_env: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    application = await _app(auth_env, prod=False)
    async with running(application):
        yield application


def client(app: FastAPI, host: str | None = None) -> httpx.AsyncClient:
    """https, so prod's Secure cookie is sent back; `host` names another Host header."""
    headers = {**HTML, **({"Host": host} if host else {})}
    transport = httpx.ASGITransport(
        app=app, client=("127.0.0.1", 40000), raise_app_exceptions=False
    )
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", headers=headers)


def console_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) for every route registered under the console's prefix."""
    found = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if not path.startswith(PREFIX):
            continue
        assert isinstance(context.original_route, APIRoute), f"{path}: not a FastAPI route"
        concrete = re.sub(r"\{[^}]+\}", "65f000000000000000000000", path)
        found += [(method, concrete) for method in sorted(context.methods or ())]
    return found


@asynccontextmanager
async def admin_client(
    app: FastAPI, email: str = "boss@example.com", host: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    await create_user(email, roles=["admin"])
    async with client(app, host) as browser:
        await sign_in_as(browser, email)
        yield browser


async def _send(
    browser: httpx.AsyncClient, method: str, path: str, token: str | None
) -> httpx.Response:
    data = {"csrf_token": token} if token else None
    return await browser.request(method, path, data=data if method == "POST" else None)


async def test_every_console_route_is_404_for_anonymous_and_non_admins(any_app: FastAPI) -> None:
    routes = console_routes(any_app)
    assert {p for _, p in routes} >= {PREFIX, f"{PREFIX}/unlock", f"{PREFIX}/settings"}
    assert len(routes) >= 9
    from vibetuner.config import get_settings

    host = None if get_settings().is_prod else "localhost"  # dev: as a local admin would
    async with client(any_app, host) as anonymous, client(any_app, host) as member:
        await create_user("member@example.com", roles=["editor"])
        await sign_in_as(member, "member@example.com")
        token = csrf_token_of((await member.get("/account")).text)  # so POSTs pass CSRF
        for method, path in routes:
            for who, browser, csrf in (("anonymous", anonymous, None), ("member", member, token)):
                answer = await _send(browser, method, path, csrf)
                assert answer.status_code == 404, f"{who} {method} {path}: {answer.status_code}"
                answer = await _send(browser, method, path + "?token=x", csrf)
                assert answer.status_code == 404, f"{who} {method} {path}?token=x"


async def test_prod_admin_needs_an_unlock_and_it_works_once(prod_app: FastAPI) -> None:
    from vibetuner.config import get_settings

    async with admin_client(prod_app) as boss:
        locked = await boss.get(PREFIX)
        assert locked.status_code == 403 and "vibetuner debug unlock" in locked.text
        token, _ = issue_token(get_settings().secret_key.get_secret_value(), 10)
        opened = await boss.get(f"{PREFIX}/unlock", params={"token": token})
        assert opened.status_code == 303 and opened.headers["location"] == PREFIX
        for method, path in console_routes(prod_app):
            if method == "GET" and not path.endswith("/unlock"):
                page = await boss.get(path)
                assert page.status_code == 200, f"{path}: {page.status_code}"
        again = await boss.get(f"{PREFIX}/unlock", params={"token": token})
        assert again.status_code == 403 and "already used" in again.text
        # Another admin cannot ride on this admin's unlock: it is bound to the session.
    async with admin_client(prod_app, "other@example.com") as other:
        assert (await other.get(PREFIX)).status_code == 403
    visits = await AuditEntry.find(AuditEntry.action == "debug.visit").to_list()
    assert {v.target for v in visits} >= {PREFIX, f"{PREFIX}/settings", f"{PREFIX}/jobs"}
    assert all(v.actor_email == "boss@example.com" for v in visits)
    actions = {e.action for e in await AuditEntry.find_all().to_list()}
    assert {"debug.unlock", "debug.unlock_replayed"} <= actions


@pytest.mark.parametrize("kind", ["forged", "wrong-key", "expired", "garbage", "empty"])
async def test_bad_unlocks_are_refused_with_403_not_500(prod_app: FastAPI, kind: str) -> None:
    from vibetuner.config import get_settings

    key = get_settings().secret_key.get_secret_value()
    good, _ = issue_token(key, 10)
    token = {
        "forged": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "wrong-key": issue_token(key + "x", 10)[0],
        "expired": issue_token(key, 1, now=datetime.now(UTC) - timedelta(minutes=2))[0],
        "garbage": "../../etc/passwd.%00.x" * 20,
        "empty": "",
    }[kind]
    async with admin_client(prod_app) as boss:
        refused = await boss.get(f"{PREFIX}/unlock", params={"token": token})
        assert refused.status_code == 403, refused.text
        assert ("expired" if kind == "expired" else "not valid") in refused.text
        assert (await boss.get(PREFIX)).status_code == 403, "still locked"


async def test_dev_admin_opens_it_from_loopback_only(dev_app: FastAPI) -> None:
    async with admin_client(dev_app, host="localhost") as boss:
        assert (await boss.get(PREFIX)).status_code == 200
        elsewhere = await boss.get(PREFIX, headers={"Host": "evil.example"})
    assert elsewhere.status_code == 403 and "localhost" in elsewhere.text


async def test_settings_page_never_shows_a_secret(auth_env: pytest.MonkeyPatch) -> None:
    secrets_set = {
        "SECRET_KEY": "s3cr3t-key-" + secrets.token_hex(16),
        "S3_SECRET_ACCESS_KEY": "s3-secret-" + secrets.token_hex(8),
        "SMTP_PASSWORD": "smtp-pw-" + secrets.token_hex(8),
        "METRICS_TOKEN": "metrics-" + secrets.token_hex(8),
    }
    for name, value in secrets_set.items():
        auth_env.setenv(name, value)
    application = await _app(auth_env, prod=False)
    async with running(application), admin_client(application, host="localhost") as boss:
        page = await boss.get(f"{PREFIX}/settings")
    assert page.status_code == 200 and "SECRET_KEY" in page.text
    for value in [*secrets_set.values(), "gh-secret"]:
        assert value not in page.text
    assert "S3_SECRET_ACCESS_KEY" in page.text and "********" in page.text


def test_url_passwords_are_hidden_in_settings_rows() -> None:
    from vibetuner.config import Settings
    from vibetuner.frontend._debug import settings_rows

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url="mongodb://app:hunter2-db@db.example:27017/app",
        redis_url="redis://:hunter2-redis@cache.example:6379/0",
    )
    text = repr(settings_rows(settings))
    assert "hunter2" not in text
    assert "mongodb://app:***@db.example:27017/app" in text


def test_url_query_passwords_are_hidden_in_settings_rows() -> None:
    """Secrets can ride in a URL's query too: Redis takes `?password=`, MongoDB a client
    key's password and AWS session tokens."""
    from vibetuner.config import Settings
    from vibetuner.frontend._debug import settings_rows

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url="mongodb://db.example/app?tls=true&tlsCertificateKeyFilePassword=hunter2-a"
        "&authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:hunter2-b",
        redis_url="redis://cache.example:6379/0?password=hunter2-c&protocol=3",
    )
    text = repr(settings_rows(settings))
    assert "hunter2" not in text
    assert "redis://cache.example:6379/0?password=***&protocol=3" in text
    assert "mongodb://db.example/app?tls=true&tlsCertificateKeyFilePassword=***" in text


async def _dead_letter(job_id: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        dead = [d for d in await list_dead() if d.job_id == job_id]
        if dead:
            return str(dead[0].id)
        assert time.monotonic() < deadline, "the failed job never became a dead letter"
        await get_database().command("ping")


async def test_retry_requeues_a_real_dead_job_and_needs_csrf(
    restore_task_registry: None, dev_app: FastAPI
) -> None:
    @task(name="debug_console_flaky", retries=1, backoff=0.01)
    async def debug_console_flaky(key: str) -> str:
        if await get_database().debug_fixed.find_one({"_id": key}) is None:
            raise RuntimeError(f"{key} is broken")
        return f"{key} ok"

    handle = await debug_console_flaky.enqueue("k9")
    with pytest.raises(JobFailed, match="k9 is broken"):
        await handle.result(timeout=10)
    dead_id = await _dead_letter(handle.id)
    async with admin_client(dev_app, host="localhost") as boss:
        jobs = await boss.get(f"{PREFIX}/jobs")
        assert jobs.status_code == 200 and dead_id in jobs.text
        forged = await boss.post(f"{PREFIX}/jobs/{dead_id}/retry", data={})
        assert forged.status_code == 403, "no CSRF token, no retry"
        assert dead_id in {str(d.id) for d in await list_dead()}, "still dead"
        await get_database().debug_fixed.insert_one({"_id": "k9"})
        token = csrf_token_of(jobs.text)
        retried = await boss.post(f"{PREFIX}/jobs/{dead_id}/retry", data={"csrf_token": token})
        assert retried.status_code == 303
        job_id = retried.headers["location"].split("retried=")[1]
        missing = await boss.post(f"{PREFIX}/jobs/nope/retry", data={"csrf_token": token})
        assert missing.status_code == 404
    from vibetuner.tasks._jobs import JobHandle
    from vibetuner.tasks._queue import get_backend

    assert await JobHandle(job_id, "x", get_backend()).result(timeout=10) == "k9 ok"
    assert dead_id not in {str(d.id) for d in await list_dead()}
    entry = await AuditEntry.find_one(AuditEntry.action == "debug.retry_job")
    assert entry is not None and entry.target_id == dead_id


async def test_a_dead_job_that_carried_a_secret_is_shown_but_not_retried(
    restore_task_registry: None, dev_app: FastAPI
) -> None:
    @task(name="debug_console_secret", retries=0, keep_args=False)
    async def debug_console_secret(link: str) -> None:
        raise RuntimeError("the mail provider is down")

    handle = await debug_console_secret.enqueue("https://example.com/auth/magic/S3CR3T")
    with pytest.raises(JobFailed):
        await handle.result(timeout=10)
    dead_id = await _dead_letter(handle.id)
    async with admin_client(dev_app, host="localhost") as boss:
        jobs = await boss.get(f"{PREFIX}/jobs")
        assert dead_id in jobs.text and "data-not-retryable" in jobs.text
        token = csrf_token_of(jobs.text)
        refused = await boss.post(f"{PREFIX}/jobs/{dead_id}/retry", data={"csrf_token": token})
        assert refused.status_code == 409 and "carried a secret" in refused.text
    assert dead_id in {str(d.id) for d in await list_dead()}, "still dead, not retried"


async def test_errors_page_lists_500s_with_their_request_ids(auth_env: pytest.MonkeyPatch) -> None:
    from fastapi import APIRouter

    broken = APIRouter()

    @broken.get("/boom")
    async def boom() -> None:
        raise ZeroDivisionError("kaboom-debug-console")

    from vibetuner.config import reset_settings

    reset_settings()
    application = create_app(routers=[broken])
    setup_middleware(application)
    async with running(application), admin_client(application, host="localhost") as boss:
        failed = await boss.get("/boom", headers={"X-Request-ID": "req-debug-123"})
        assert failed.status_code == 500
        page = await boss.get(f"{PREFIX}/errors")
    assert "req-debug-123" in page.text and "kaboom-debug-console" in page.text
    assert "ZeroDivisionError" in page.text and "/boom" in page.text


async def test_errors_page_shows_a_500_that_another_worker_answered(
    auth_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    """With REDIS_URL, the page lists 500s this worker never saw: its own ring is emptied
    after the 500, as if another worker had answered it."""
    from fastapi import APIRouter

    from vibetuner.config import reset_settings
    from vibetuner.data._redis import close_redis
    from vibetuner.monitoring import _recent_errors

    broken = APIRouter()

    @broken.get("/boom")
    async def boom() -> None:
        raise ZeroDivisionError("kaboom-on-another-worker")

    auth_env.setenv("REDIS_URL", redis_server.url)
    reset_settings()
    application = create_app(routers=[broken])
    setup_middleware(application)
    try:
        async with running(application), admin_client(application, host="localhost") as boss:
            failed = await boss.get("/boom", headers={"X-Request-ID": "req-elsewhere-7"})
            assert failed.status_code == 500
            _recent_errors._ring.clear()
            page = await boss.get(f"{PREFIX}/errors")
            home = await boss.get(PREFIX)
    finally:
        await close_redis()
    assert "req-elsewhere-7" in page.text and "kaboom-on-another-worker" in page.text
    assert "data-errors-local-only" not in page.text
    assert home.status_code == 200
