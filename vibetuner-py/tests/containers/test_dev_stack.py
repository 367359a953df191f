"""compose.dev.yml brought up with podman-compose: the app with reload and the source mounted,
the asset watcher, the job worker, and MongoDB and Redis.

Stand-ins as in test_stack.py: MONGO_IMAGE and REDIS_IMAGE point at the local image with
SecantusDB behind a `mongod` shim and Debian's redis-server. The official images start their
server by default; the stand-in image does not know which one it plays, so a small override
names the command. SecantusDB also answers as a replica-set member at its bind address, so the
override adds `directConnection=true` to the apps' DATABASE_URL. The services that `build:` get
this session's builds on the local bases, tagged as podman-compose names them, so it builds
nothing (the registry images the Dockerfile names are out of reach here). The compose file
itself is the generated one, unchanged.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.containers.conftest import BuiltImage, compose_project
from tests.containers.test_stack import STANDINS, STANDINS_IMAGE
from vibetuner.server._net import free_port
from vibetuner.testing._containers import Engine, ensure_image
from vibetuner.testing._required import missing

pytestmark = pytest.mark.slow

OVERRIDE = """\
services:
  mongo:
    command: ["mongod", "--bind_ip_all"]
  redis:
    command: ["redis-server"]
  app:
    environment:
      DATABASE_URL: {database_url}
  worker:
    environment:
      DATABASE_URL: {database_url}
"""
DATABASE_URL = "mongodb://mongo:27017/box_app?directConnection=true"


@dataclass
class DevStack:
    base: str
    app_dir: Path
    engine: Engine
    containers: dict[str, list[str]]


@pytest.fixture(scope="module")
def dev_stack(
    engine: Engine,
    base_images: dict[str, str],
    app_image: BuiltImage,
    vendored_app: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DevStack]:
    if not engine.is_podman:
        missing("the stack test drives podman-compose, and the engine here is docker")
    standins = ensure_image(engine, STANDINS, STANDINS_IMAGE, base_images["PYTHON_IMAGE"])
    project = f"vt-dev-{secrets.token_hex(3)}"
    built = {f"{project}_{name}": app_image.tag for name in ("app", "worker")}
    built[f"{project}_assets"] = assets = f"localhost/vibetuner-test-assets:{os.getpid()}"
    engine.build(vendored_app, assets, build_args=base_images, target="assets")
    for name, image in built.items():
        engine.run("tag", image, name)
    override = tmp_path_factory.mktemp("dev-stack") / "compose.test.yml"
    override.write_text(OVERRIDE.format(database_url=DATABASE_URL))
    port = free_port()
    env = {**os.environ, "MONGO_IMAGE": standins, "REDIS_IMAGE": standins, "DEV_PORT": str(port)}
    stack, services = compose_project(
        engine, vendored_app, project, "compose.dev.yml", override, env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        stack.up()
        containers = {service: stack.containers(service) for service in services}
        _wait_until_ready(engine, containers["app"][0], base)
        yield DevStack(base, vendored_app, engine, containers)
    finally:
        stack.down()
        engine.run("rmi", "-f", assets, *built, check=False)


def _wait_until_ready(engine: Engine, app: str, base: str) -> None:
    deadline = time.monotonic() + 120
    last = "nothing yet"
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{base}/health/ready", timeout=5)
            if ready.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise AssertionError(f"the dev app never became ready: {last}\n{_logs(engine, app)}")


def _logs(engine: Engine, container: str) -> str:
    """The container's state and last lines (podman writes the container's stderr to ours)."""
    import subprocess

    state = engine.run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container)
    logs = subprocess.run([engine.path, "logs", "--tail", "40", container],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return f"{container}: {state.strip()}\n{logs.stdout}{logs.stderr}"


def test_the_dev_app_serves_with_mongodb_and_redis(dev_stack: DevStack) -> None:
    ready = httpx.get(f"{dev_stack.base}/health/ready", timeout=10).json()
    assert ready["status"] == "ok", ready
    assert {"mongodb", "redis"} <= set(ready["checks"]), ready
    home = httpx.get(f"{dev_stack.base}/", timeout=10)
    assert home.status_code == 200 and "Box App" in home.text


def test_template_edits_on_the_host_show_without_a_restart(dev_stack: DevStack) -> None:
    page = dev_stack.app_dir / "templates" / "frontend" / "index.html.jinja"
    original = page.read_text()
    marker = f"edited-on-the-host-{secrets.token_hex(4)}"
    try:
        page.write_text(original.replace("{% block content %}", "{% block content %}" + marker))
        deadline = time.monotonic() + 30
        while marker not in httpx.get(f"{dev_stack.base}/", timeout=10).text:
            assert time.monotonic() < deadline, "the mounted template was not picked up"
            time.sleep(0.5)
    finally:
        page.write_text(original)


def test_the_asset_watcher_rebuilds_css_for_new_classes(dev_stack: DevStack) -> None:
    """A class first used in a template on the host appears in the served bundle."""
    bundle = dev_stack.app_dir / "assets" / "statics" / "css" / "bundle.css"
    probe = dev_stack.app_dir / "templates" / "frontend" / "_probe.html.jinja"
    width = f"{secrets.randbelow(900) + 100}px"
    probe.write_text(f'<p class="max-w-[{width}]">probe</p>\n')
    try:
        deadline = time.monotonic() + 60
        while not (bundle.exists() and width in bundle.read_text()):
            if time.monotonic() > deadline:
                logs = _logs(dev_stack.engine, dev_stack.containers["assets"][0])
                raise AssertionError(f"bun run dev never added max-w-[{width}]:\n{logs}")
            time.sleep(1)
    finally:
        probe.unlink()
    home = httpx.get(f"{dev_stack.base}/", timeout=10).text
    css = home.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    served = httpx.get(f"{dev_stack.base}{css}", timeout=10)
    assert served.status_code == 200 and width in served.text, "the app serves the new build"


def test_the_worker_runs_with_reload(dev_stack: DevStack) -> None:
    (worker,) = dev_stack.containers["worker"]
    state = dev_stack.engine.run("inspect", "--format", "{{.State.Status}}", worker).strip()
    command = dev_stack.engine.run("inspect", "--format", "{{.Config.Cmd}}", worker)
    assert state == "running" and "--reload" in command
