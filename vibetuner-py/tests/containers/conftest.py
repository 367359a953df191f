"""Apps rendered from the template, and the container engine that builds them."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests._scaffold import VIBETUNER, run
from tests.test_scaffold import Browser
from vibetuner.testing import csrf_token_of
from vibetuner.testing._containers import (
    ComposeProject,
    Engine,
    ensure_base_image,
    ensure_bun_image,
    find_engine,
)
from vibetuner.testing._required import missing

FQDN = "box.example.test"


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    seconds: float


ANSWERS = ["--data", "project_name=Box App", "--data", f"fqdn={FQDN}",
           "--data", "supported_languages=en,es"]  # fmt: skip


@pytest.fixture(scope="session")
def rendered_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template rendered with a domain (so compose.prod.yml is there), nothing installed."""
    dest = tmp_path_factory.mktemp("rendered") / "box-app"
    run([VIBETUNER, "scaffold", "new", str(dest), "--defaults", *ANSWERS,
          "--no-install", "--no-git"], cwd=dest.parent)  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def engine() -> Engine:
    """podman or docker; skipped (failed under VIBETUNER_REQUIRE_ALL=1) where neither can run."""
    found, why = find_engine()
    if found is None:
        missing(f"no container engine can run here: {why} (`make test` as root installs podman)")
    return found


CACHE = Path.home() / ".cache" / "vibetuner-containers"


@pytest.fixture(scope="session")
def base_images(engine: Engine) -> dict[str, str]:
    """Registry-free stand-ins for python:slim and oven/bun, built once and kept between runs."""
    python = ensure_base_image(engine)
    return {"PYTHON_IMAGE": python, "BUN_IMAGE": ensure_bun_image(engine, python, CACHE)}


@pytest.fixture(scope="session")
def app_image(
    engine: Engine, base_images: dict[str, str], vendored_app: Path
) -> Iterator[BuiltImage]:
    """The generated app's Dockerfile built on the local bases; removed after the session."""
    tag = f"localhost/vibetuner-test-app:{os.getpid()}"
    seconds = engine.build(vendored_app, tag, build_args=base_images)
    try:
        yield BuiltImage(tag, seconds)
    finally:
        engine.run("rmi", "-f", tag, check=False)
        engine.run("image", "prune", "-f", check=False)  # this build's untagged stages


@pytest.fixture(scope="session")
def vendored_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fully scaffolded app (uv.lock, npm install, git) with vibetuner vendored into packages/."""
    if shutil.which("npm") is None:
        missing("npm is not installed (Node.js 20+ is needed to scaffold and vendor)")
    dest = tmp_path_factory.mktemp("vendored") / "box-app"
    run([VIBETUNER, "scaffold", "new", str(dest), "--defaults", *ANSWERS], cwd=dest.parent)
    path = f"{Path(VIBETUNER).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    run([str(dest / ".venv/bin/vibetuner"), "vendor"], cwd=dest, PATH=path)
    return dest


def compose_project(
    engine: Engine,
    app_dir: Path,
    project: str,
    name: str,
    override: Path,
    env: dict[str, str],
    added: dict[str, Any] | None = None,
) -> tuple[ComposeProject, dict[str, Any]]:
    """The app's compose file `name` plus a test override (which may add services), driven by
    podman-compose as `project`; with the services the generated file declares."""
    tool = Path(sys.executable).parent / "podman-compose"
    compose = [str(tool) if tool.is_file() else "podman-compose", "-p", project,
               "-f", name, "-f", str(override)]  # fmt: skip
    services = yaml.safe_load((app_dir / name).read_text())["services"]
    started = ComposeProject(engine, compose, app_dir, env, {**services, **(added or {})})
    return started, services


def request_magic_link(browser: Browser, email: str, next_path: str) -> httpx.Response:
    """The sign-in form, filled and sent as a person would: GET for the CSRF token, then POST."""
    login = browser.get(f"/auth/login?next={next_path}")
    assert login.status_code == 200, login.text[-500:]
    sent = browser.post(
        "/auth/magic-link",
        data={"email": email, "next": next_path, "csrf_token": csrf_token_of(login.text)},
    )
    assert sent.status_code == 200 and "Check your email" in sent.text, sent.text[-500:]
    return sent
