"""What browser and live-server tests use: the project served for real, a real Chromium,
signing in, and the page's problems."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from vibetuner.config import Settings, get_settings
from vibetuner.tasks._worker import worker_alive
from vibetuner.testing._required import missing

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Page

    from vibetuner.testing._mail import SMTPSink
    from vibetuner.testing.idp import LocalOIDCProvider


async def sign_in_as(
    client: httpx.AsyncClient, email: str, *, name: str = "", roles: Iterable[str] = ()
) -> None:
    """Sign `client` in as `email` (given `roles`, e.g. "admin", as `vibetuner users roles
    --add` gives them) through the real magic-link routes (no email is sent): open the link,
    then press the confirm page's button."""
    from vibetuner.services.auth import (  # beanie: only tests that sign in
        get_or_create_user,
        issue_magic_link,
    )
    from vibetuner.services.users import change_roles  # beanie: as above

    await get_or_create_user(email, name=name)
    if roles:
        await change_roles(email, add=roles)
    token = await issue_magic_link(email, "/", get_settings().magic_link_max_age)
    page = await client.get(f"/auth/magic/{token}")
    assert page.status_code == 200, f"the sign-in link answered {page.status_code}"
    response = await client.post(MAGIC_CONFIRM, data=sign_in_form_of(page.text))
    assert response.status_code == 303, f"sign-in failed: {response.status_code}"


MAGIC_CONFIRM = "/auth/magic"
"""Where a magic link's confirm page posts its form (`sign_in_form_of` reads the fields)."""


def csrf_token_of(html: str) -> str:
    """The CSRF token a rendered page carries (form field or htmx header script)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"|"X-CSRF-Token"\] = "([^"]+)"', html)
    if match is None:
        raise AssertionError("no CSRF token on this page")
    return match.group(1) or match.group(2)


def sign_in_form_of(html: str) -> dict[str, str]:
    """The fields a magic link's confirm page posts to `MAGIC_CONFIRM` when its button is
    pressed: opening a link no longer signs in, so a test follows it as a person does."""
    match = re.search(r'name="token" value="([^"]+)"', html)
    if match is None:
        raise AssertionError("not a sign-in confirm page (was the link already used?)")
    return {"token": match.group(1), "csrf_token": csrf_token_of(html)}


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Inherited variables that would point the server at another venv, database or mode.
_CONFLICTING_ENV = ("DATABASE_URL", "DATABASE_NAME", "DEBUG", "ENVIRONMENT", "PROJECT_ROOT",
                    "REDIS_URL", "SECRET_KEY", "VIBETUNER_ENV_FILE")  # fmt: skip


@dataclass
class LiveServer:
    """The project under `vibetuner run prod`, and the mail sink and provider it talks to."""

    url: str
    smtp: SMTPSink
    idp: LocalOIDCProvider
    oidc_name: str
    database_url: str
    log_path: Path
    redis_url: str | None = None
    """The server's Redis (apps with background jobs), for tests that act from another process."""


def server_env(**settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _CONFLICTING_ENV and not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    # Production reads the environment only: .env (dev settings) stays out, as in the image.
    return {**env, "VIBETUNER_ENV_FILE": os.devnull, **settings}


def wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx  # httpx: only when polling the server

    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-4000:]
            pytest.fail(f"`vibetuner run prod` exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"`vibetuner run prod` never answered {url}/health/ping")
        time.sleep(0.1)


def worker_settings(env: Mapping[str, str]) -> Any:
    """The settings the worker started with `env` sees: the environment only, no .env."""
    queue = env.get("JOB_QUEUE") or Settings.model_fields["job_queue"].default
    return Settings(_env_file=None, redis_url=env["REDIS_URL"], job_queue=queue)  # type: ignore[call-arg]


def wait_for_worker(process: subprocess.Popen[bytes], env: Mapping[str, str], log: Path) -> None:
    """Until the worker's heartbeat is in Redis, so the first queued job is not kept waiting."""
    settings = worker_settings(env)
    deadline = time.monotonic() + 60
    while not worker_alive(settings, any_host=True):
        if process.poll() is not None:
            pytest.fail(f"`vibetuner run worker` exited with {process.returncode}:\n"
                        + log.read_text(errors="replace")[-3000:])  # fmt: skip
        if time.monotonic() > deadline:
            pytest.fail("`vibetuner run worker` never sent a heartbeat")
        time.sleep(0.2)


def chromium() -> str:
    """The Chromium to drive; skip (or fail, under VIBETUNER_REQUIRE_ALL=1) without one."""
    executable = os.environ.get("VIBETUNER_CHROMIUM", CHROMIUM)
    if not os.access(executable, os.X_OK):
        missing(f"no Chromium at {executable} (install it, or set VIBETUNER_CHROMIUM)")
    return executable


Screenshot = Callable[["Page", str], Awaitable[Path]]


def watch_page(page: Page) -> list[str]:
    """Record a page's uncaught errors and Content Security Policy violations.

    The returned list fills up as the page runs; assert it is empty at the end of a test.
    """
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP on {page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught on {page.url}: {error}"))
    return problems
