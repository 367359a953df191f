"""The generated app's image: built on a local base, run against real servers, signed in to."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.containers.conftest import BuiltImage, request_magic_link
from tests.test_scaffold import Browser
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port
from vibetuner.testing import MAGIC_CONFIRM, local_redis, sign_in_form_of
from vibetuner.testing._containers import ContainerError, Engine
from vibetuner.testing._mail import SMTPSink

pytestmark = pytest.mark.slow


@dataclass
class Running:
    base: str
    web: str
    smtp: SMTPSink


def _wait_for_ping(engine: Engine, name: str, base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = engine.run("inspect", "--format", "{{.State.Status}}", name, check=False).strip()
        if state not in {"running", "created", "configured"}:
            logs = engine.run("logs", name, check=False)
            raise AssertionError(f"{name} is {state!r}:\n{logs[-3000:]}")
        try:
            if httpx.get(f"{base}/health/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, engine.run("logs", name, check=False)[-3000:]
        time.sleep(0.2)


@pytest.fixture(scope="module")
def running(
    engine: Engine, app_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """The web and worker containers on the host network, with MongoDB, Redis and SMTP there."""
    workdir = tmp_path_factory.mktemp("image-run")
    with ExitStack() as stack:
        mongo = EmbeddedMongo(workdir / "db")
        mongo.start()
        stack.callback(mongo.stop)
        redis_url = stack.enter_context(local_redis(workdir))
        smtp = SMTPSink().start()
        stack.callback(smtp.stop)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": f"mongodb://127.0.0.1:{mongo.port}/boxapp",
            "REDIS_URL": redis_url,
            "BASE_URL": base,
            "FORCE_HTTPS": "false",  # plain HTTP on loopback; behind Caddy it stays on
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "Box <no-reply@box.test>",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
        }
        flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        suffix = secrets.token_hex(4)
        web, worker = f"vt-web-{suffix}", f"vt-worker-{suffix}"
        for name in (web, worker):
            stack.callback(engine.run, "rm", "-f", "-t", "5", name, check=False)
        engine.run("run", "-d", "--name", web, "--network", "host", *flags, app_image.tag)
        engine.run("run", "-d", "--name", worker, "--network", "host", *flags,
                   app_image.tag, "vibetuner", "run", "worker")  # fmt: skip
        _wait_for_ping(engine, web, base)
        yield Running(base, web, smtp)


def test_image_runs_as_a_user_with_only_what_runs(engine: Engine, app_image: BuiltImage) -> None:
    print(f"\napp image built in {app_image.seconds:.1f} s")
    probe = "id -u; for t in uv bun node npm; do command -v $t || true; done; echo --; ls -A /app"
    user, _, listing = engine.run("run", "--rm", app_image.tag, "sh", "-c", probe).partition("--")
    assert user.split()[0] == "10001", "the runtime user is not root"
    assert user.split()[1:] == [], f"build tools in the runtime image: {user.split()[1:]}"
    assert set(listing.split()) == {
        ".venv",
        ".vibetuner",
        "assets",
        "pyproject.toml",
        "src",
        "templates",
        "translations",
    }
    catalogs = engine.run("run", "--rm", app_image.tag, "find", "translations", "-name", "*.mo")
    assert "translations/es/LC_MESSAGES/messages.mo" in catalogs, "the translations stage ran"
    fields = "{{json .Config.Healthcheck}} {{json .Config.Cmd}}"
    config = engine.run("image", "inspect", "--format", fields, app_image.tag)
    assert "/health/ping" in config and "vibetuner run prod" in config


def test_healthcheck_ready_page_and_assets(engine: Engine, running: Running) -> None:
    assert engine.health(running.web), "the image's HEALTHCHECK fails"
    ready = httpx.get(f"{running.base}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    page = httpx.get(f"{running.base}/")
    assert page.status_code == 200 and "livereload" not in page.text
    css = re.search(r'href="(/static/[0-9a-f]{12}/css/bundle\.css)"', page.text)
    assert css, "the page links the hashed bundle built in the image"
    bundle = httpx.get(f"{running.base}{css.group(1)}")
    assert bundle.status_code == 200 and ".btn-primary" in bundle.text
    assert ".footer-center" in bundle.text, "Tailwind scanned the vendored framework templates"


def test_magic_link_sign_in_through_the_worker(running: Running) -> None:
    browser = Browser(running.base)
    request_magic_link(browser, "box@example.com", "/account")
    running.smtp.wait_for(1, timeout=30)
    link = next(u for u in running.smtp.links() if "/auth/magic/" in u)
    page = browser.get(link.removeprefix(running.base), follow_redirects=False)
    assert page.status_code == 200, page.text[-500:]
    form = sign_in_form_of(page.text)
    opened = browser.post(MAGIC_CONFIRM, data=form, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/account"
    account = browser.get("/account")
    assert account.status_code == 200 and "box@example.com" in account.text


def test_sigterm_stops_the_container_cleanly(engine: Engine, running: Running) -> None:
    started = time.monotonic()
    engine.run("stop", "-t", "25", running.web)
    took = time.monotonic() - started
    code = engine.run("inspect", "--format", "{{.State.ExitCode}}", running.web).strip()
    assert took < 20, f"SIGTERM took {took:.1f} s: the signal did not reach Granian"
    assert code == "0", engine.run("logs", running.web, check=False)[-2000:]


def test_missing_vendor_fails_the_build_with_the_fix(
    engine: Engine, base_images: dict[str, str], vendored_app: Path, tmp_path: Path
) -> None:
    """Without packages/, a lock that points at a local checkout says to run `just vendor`."""
    copy = tmp_path / "app"
    shutil.copytree(vendored_app, copy, ignore=shutil.ignore_patterns(".venv", "node_modules"))
    for built in (copy / "packages").glob("*vibetuner-*"):
        built.unlink()
    with pytest.raises(ContainerError, match="just vendor"):
        engine.build(copy, f"localhost/vibetuner-test-unvendored:{secrets.token_hex(3)}",
                     build_args=base_images, target="python-deps")  # fmt: skip
