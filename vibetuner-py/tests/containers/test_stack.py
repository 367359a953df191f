"""compose.prod.yml brought up with podman-compose, then checked through Caddy over TLS.

Stand-ins (no registry here): MONGO_IMAGE, REDIS_IMAGE and CADDY_IMAGE point at one local image
with Debian's redis-server and caddy, and SecantusDB behind `mongod`/`mongosh` shims. The three
mongo members are independent single nodes, so the apps use mongo1 (DATABASE_URL override, with
the app's user); the init job waits for all three and creates that user on mongo1. MongoDB and
Redis require the passwords the test sets, as the compose file does. The compose file itself is
the generated one, unchanged; a small override adds an SMTP sink service so sign-in mail stays
inside the stack. Which replica served what is read from each replica's own /metrics (one
Granian worker per replica).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest

from tests.containers.conftest import BuiltImage, compose_project, request_magic_link
from tests.test_scaffold import Browser
from vibetuner.server._net import free_port
from vibetuner.testing import MAGIC_CONFIRM, csrf_token_of, sign_in_form_of
from vibetuner.testing._containers import Engine, ensure_image
from vibetuner.testing._mail import SMTPSink
from vibetuner.testing._required import missing

pytestmark = pytest.mark.slow

STANDINS = Path(__file__).with_name("services") / "Containerfile"


def _digest(folder: Path) -> str:
    """A tag that changes with the stand-ins, so an edited shim is never served from cache."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


STANDINS_IMAGE = f"localhost/vibetuner-standins:{_digest(STANDINS.parent)}"
REPLICAS = 3
OVERRIDE = """\
services:
  smtp:
    image: {image}
    command: ["smtp-sink"]
    volumes:
      - {mail}:/mail
"""


class TLSBrowser(Browser):
    """A cookie-carrying client that trusts Caddy's local CA."""

    def __init__(self, base: str, verify: ssl.SSLContext) -> None:
        super().__init__(base)
        self.verify = verify

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return super().request(method, path, verify=self.verify, **kwargs)


@dataclass
class Stack:
    base: str
    project: str
    engine: Engine
    mail: Path
    ca: str
    metrics_token: str
    containers: dict[str, list[str]] = field(default_factory=dict)

    def client(self) -> TLSBrowser:
        return TLSBrowser(self.base, ssl.create_default_context(cafile=self.ca))

    def mails(self) -> SMTPSink:
        """What the in-stack sink received, read through SMTPSink's helpers."""
        sink = SMTPSink()
        for path in sorted(self.mail.glob("*.eml")):
            sink.messages.append(message_from_bytes(path.read_bytes()))
        return sink


SCRAPE = """
import sys, urllib.request
request = urllib.request.Request("http://127.0.0.1:8000/metrics", headers={
    "X-Forwarded-Proto": "https", "Authorization": "Bearer " + sys.argv[1]})
print(urllib.request.urlopen(request, timeout=5).read().decode())
"""


def _metric(stack: Stack, pattern: str) -> dict[str, float]:
    """One metric line's value on each app replica, scraped from inside the replica."""
    values = {}
    for name in stack.containers["app"]:
        text = stack.engine.run("exec", name, "python3", "-c", SCRAPE, stack.metrics_token)
        found = re.search(rf"^{pattern} (\S+)$", text, re.M)
        values[name] = float(found.group(1)) if found else 0.0
    return values


def _route_count(stack: Stack, method: str, route: str) -> dict[str, float]:
    labels = rf'\{{method="{method}",route="{re.escape(route)}"\}}'
    return _metric(stack, f"vibetuner_http_request_duration_seconds_count{labels}")


@pytest.fixture(scope="module")
def stack(
    engine: Engine,
    base_images: dict[str, str],
    app_image: BuiltImage,
    vendored_app: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    if not engine.is_podman:
        missing("the stack test drives podman-compose, and the engine here is docker")
    standins = ensure_image(engine, STANDINS, STANDINS_IMAGE, base_images["PYTHON_IMAGE"])
    workdir = tmp_path_factory.mktemp("stack")
    mail = workdir / "mail"
    mail.mkdir()
    override = workdir / "compose.test.yml"
    override.write_text(OVERRIDE.format(image=standins, mail=mail))
    token = secrets.token_urlsafe(24)
    (vendored_app / ".env.prod").write_text(
        f"SECRET_KEY={secrets.token_urlsafe(48)}\nSMTP_HOST=smtp\nSMTP_PORT=1025\n"
        "SMTP_SECURITY=none\nMAIL_FROM=Box <no-reply@box.test>\nSERVER_WORKERS=1\n"
        f"METRICS_TOKEN={token}\n"
    )
    https_port = free_port()
    project = f"vt-stack-{secrets.token_hex(3)}"
    app_password = secrets.token_urlsafe(18)
    env = {
        **os.environ,
        "APP_IMAGE": app_image.tag,
        "MONGO_IMAGE": standins,
        "REDIS_IMAGE": standins,
        "CADDY_IMAGE": standins,
        "APP_REPLICAS": str(REPLICAS),
        "FQDN": "localhost",
        "PUBLIC_IP": "127.0.0.1",
        "HTTP_PORT": str(free_port()),
        "HTTPS_PORT": str(https_port),
        "MONGO_ROOT_PASSWORD": secrets.token_urlsafe(18),
        "MONGO_APP_PASSWORD": app_password,
        "REDIS_PASSWORD": secrets.token_urlsafe(18),
        # Single-node stand-ins: talk to mongo1 alone (see the module docstring).
        "DATABASE_URL": f"mongodb://app:{app_password}@mongo1:27017/box_app"
        "?directConnection=true&authSource=admin",
        # Loopback too, so the metrics scrape from inside a replica can say it is HTTPS.
        "TRUSTED_PROXIES": '["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.1/32"]',
    }
    project_run, _ = compose_project(
        engine, vendored_app, project, "compose.prod.yml", override, env, added={"smtp": {}}
    )
    started = time.monotonic()
    try:
        project_run.up()
        containers = {service: project_run.containers(service) for service in project_run.active()}
        ca = workdir / "caddy-root.crt"
        base = f"https://localhost:{https_port}"
        _wait_until_ready(engine, containers["caddy"][0], ca, base)
        print(f"\nprod stack up and ready through Caddy in {time.monotonic() - started:.1f} s")
        yield Stack(base, project, engine, mail, str(ca), token, containers)
    finally:
        project_run.down()
        (vendored_app / ".env.prod").unlink(missing_ok=True)
        shutil.rmtree(mail, ignore_errors=True)


def _wait_until_ready(engine: Engine, caddy: str, ca: Path, base: str) -> None:
    """Caddy's local CA exists once it has issued for localhost; then /health/ready answers."""
    deadline = time.monotonic() + 120
    last = "nothing yet"
    while time.monotonic() < deadline:
        root = "/data/caddy/pki/authorities/local/root.crt"
        if not ca.exists():
            copied = subprocess.run([engine.path, "cp", f"{caddy}:{root}", str(ca)],
                                    capture_output=True, text=True)  # fmt: skip
            last = copied.stderr.strip()
        if ca.exists():
            try:
                verify = ssl.create_default_context(cafile=str(ca))
                ready = httpx.get(f"{base}/health/ready", verify=verify, timeout=5)
                if ready.status_code == 200:
                    return
                last = f"{ready.status_code} {ready.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
        time.sleep(1)
    logs = engine.run("logs", "--tail", "30", caddy, check=False)
    raise AssertionError(f"the stack never became ready through Caddy: {last}\n{logs}")


def _jobs_drained(stack: Stack, timeout: float = 60) -> None:
    """Until no job is queued, scheduled or running, asked from inside the worker container."""
    (worker,) = stack.containers["worker"]
    deadline = time.monotonic() + timeout
    while (left := stack.engine.run("exec", worker, "python3", "-m",
                                    "vibetuner.testing._jobs").strip()) != "0":  # fmt: skip
        assert time.monotonic() < deadline, f"{left} job(s) still unfinished after {timeout} s"
        time.sleep(0.5)


def test_every_container_passes_its_healthcheck(stack: Stack) -> None:
    """Podman runs no healthchecks without systemd: run each compose healthcheck once."""
    assert len(stack.containers["app"]) == REPLICAS
    for service in ("app", "worker", "mongo1", "mongo2", "mongo3", "redis"):
        for name in stack.containers[service]:
            deadline = time.monotonic() + 60
            while not stack.engine.health(name):
                assert time.monotonic() < deadline, f"{name} stays unhealthy"
                time.sleep(2)
    init = stack.containers["mongo-init"][0]
    assert stack.engine.run("inspect", "--format", "{{.State.ExitCode}}", init).strip() == "0"


@pytest.fixture(scope="module")
def signed_in(stack: Stack) -> tuple[TLSBrowser, dict[str, float]]:
    """Check 3 on the way: magic links requested via every replica each send one email."""
    browser = stack.client()
    emails = []
    posts: dict[str, float] = {}
    for attempt in range(4):  # the login rate limit is 5 a minute per client
        email = f"box{attempt}@example.com"
        request_magic_link(browser, email, "/account")
        emails.append(email)
        posts = _route_count(stack, "POST", "/auth/magic-link")
        if all(posts.values()):
            break
    assert all(posts.values()), f"magic links requested per replica: {posts}"
    deadline = time.monotonic() + 30
    while len(stack.mails().messages) < len(emails) and time.monotonic() < deadline:
        time.sleep(0.2)
    _jobs_drained(stack)  # any duplicate run would have sent its mail by now
    sink = stack.mails()
    recipients = sorted(str(message["To"]) for message in sink.messages)
    assert recipients == sorted(emails), "each job ran exactly once"
    first = next(i for i, m in enumerate(sink.messages) if "box0@" in str(m["To"]))
    link = next(u for u in sink.links(first) if "/auth/magic/" in u)
    page = browser.get(link[link.index("/auth/magic/") :], follow_redirects=False)
    assert page.status_code == 200, page.text[-500:]
    form = sign_in_form_of(page.text)
    opened = browser.post(MAGIC_CONFIRM, data=form, follow_redirects=False)
    assert opened.status_code == 303, opened.text[-500:]
    return browser, posts


def test_jobs_enqueued_on_every_replica_run_once(
    signed_in: tuple[TLSBrowser, dict[str, float]],
) -> None:
    _, posts = signed_in
    assert len(posts) == REPLICAS and all(posts.values()), posts


def test_session_is_valid_on_every_replica(
    stack: Stack, signed_in: tuple[TLSBrowser, dict[str, float]]
) -> None:
    browser, _ = signed_in
    before = _route_count(stack, "GET", "/account")
    for _ in range(REPLICAS * 2):
        account = browser.get("/account")
        assert account.status_code == 200 and "box0@example.com" in account.text
    after = _route_count(stack, "GET", "/account")
    served = {name: after[name] - before[name] for name in after}
    assert all(served.values()) and sum(served.values()) == REPLICAS * 2, served


def test_broadcast_reaches_sse_clients_on_every_replica(
    stack: Stack, signed_in: tuple[TLSBrowser, dict[str, float]]
) -> None:
    browser, _ = signed_in
    marker = f"live-{secrets.token_hex(4)}"
    verify = ssl.create_default_context(cafile=stack.ca)
    clients = [
        httpx.Client(base_url=stack.base, verify=verify, timeout=30) for _ in range(REPLICAS)
    ]
    got: list[threading.Event] = [threading.Event() for _ in clients]
    opened: list[threading.Event] = [threading.Event() for _ in clients]

    def listen(index: int) -> None:
        headers = {"Accept": "text/event-stream"}
        with clients[index].stream("GET", "/posts/live", headers=headers) as response:
            opened[index].set()
            for line in response.iter_lines():
                if marker in line:
                    got[index].set()
                    return

    idle = _metric(stack, "vibetuner_http_requests_in_flight")
    threads = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(REPLICAS)]
    try:
        for thread, ready in zip(threads, opened, strict=True):
            thread.start()
            assert ready.wait(15), "an SSE stream did not open through Caddy"
        streaming = _metric(stack, "vibetuner_http_requests_in_flight")
        held = {name: streaming[name] - idle[name] for name in streaming}
        assert all(count >= 1 for count in held.values()), f"open streams per replica: {held}"
        token = csrf_token_of(browser.get("/posts").text)
        posted = browser.post(
            "/posts", data={"content": marker},
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )  # fmt: skip
        assert posted.status_code == 200, posted.text[-500:]
        for index, event in enumerate(got):
            assert event.wait(15), f"the broadcast never reached SSE client {index}"
    finally:
        for client in clients:
            client.close()
        for thread in threads:
            thread.join(5)
