"""The demo app under `vibetuner run prod --workers 2`, with its job worker: after some
traffic, one scrape of the web server shows the command histogram by collection, the pool
gauges and the process figures of both Granian workers; a dead worker's figures leave; the
job worker serves its own /metrics. The demo's monitoring files pass promtool and the
blackbox exporter's check, every dashboard and alert query names a metric that is exported,
and Prometheus (Debian's) scrapes the demo, the worker, node exporter and the health probe
with the demo's own scrape jobs."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families

from tests._scaffold import VIBETUNER, clean_env, run
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.monitoring import REGISTRY
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group
from vibetuner.testing import RedisServer, csrf_token_of
from vibetuner.testing._required import missing

pytestmark = pytest.mark.slow

Samples = list[tuple[str, dict[str, str], float]]


@dataclass
class Stack:
    app_dir: Path
    web: str
    worker: str
    token: str
    log: Path
    web_process: subprocess.Popen[bytes]

    def scrape(self, base: str | None = None) -> Samples:
        page = httpx.get(f"{base or self.web}/metrics", timeout=10,
                         headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        assert page.status_code == 200, page.text
        return [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(page.text)
            for s in family.samples
        ]


def values(samples: Samples, name: str, **labels: str) -> list[float]:
    return [v for n, found, v in samples if n == name and labels.items() <= found.items()]


def workers(samples: Samples) -> set[str]:
    return {labels["worker"] for n, labels, _ in samples
            if n == "vibetuner_process_resident_memory_bytes"}  # fmt: skip


def until(condition: Callable[[], Any], what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := condition()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo app as `make demo` makes it (with a domain, so its monitoring files are
    there), rendered only: its code runs on this venv."""
    dest = tmp_path_factory.mktemp("live-demo") / "demo"
    run([VIBETUNER, "scaffold", "new", str(dest), "--defaults", "--no-install", "--no-git",
         "--data", "project_name=Demo", "--data", "fqdn=demo.example.test"],
        cwd=dest.parent, timeout=300)  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def stack(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("live-stack")
    web_port, worker_port = free_port(), free_port()
    token = secrets.token_urlsafe(24)
    log = work / "stack.log"
    with EmbeddedMongo(work / "db") as mongo, RedisServer(work) as redis, \
            log.open("wb") as output:  # fmt: skip
        mongo_url = mongo.url
        env = clean_env(
            ENVIRONMENT="prod", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(48),
            DATABASE_URL=mongo_url, REDIS_URL=redis.url, BASE_URL=f"http://127.0.0.1:{web_port}",
            FORCE_HTTPS="false", SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()),
            SMTP_SECURITY="none", MAIL_FROM="Demo <no-reply@demo.test>", METRICS_TOKEN=token,
            METRICS_SAMPLE_INTERVAL="0.5", DB_STATS_INTERVAL="1",
            WORKER_METRICS_PORT=str(worker_port), VIBETUNER_ENV_FILE=os.devnull,
            MIGRATE_ON_START="true",  # the launcher opens the database before the workers fork
        )  # fmt: skip
        web = subprocess.Popen(
            [VIBETUNER, "run", "prod", "--workers", "2", "--host", "127.0.0.1",
             "--port", str(web_port)], cwd=demo, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        worker = subprocess.Popen(
            [VIBETUNER, "run", "worker"], cwd=demo, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            for process, url in ((web, f"http://127.0.0.1:{web_port}/health/ping"),
                                 (worker, f"http://127.0.0.1:{worker_port}/metrics")):  # fmt: skip
                until(lambda p=process, u=url: _answers(p, u, log), f"{url} answers")
            yield Stack(demo, f"http://127.0.0.1:{web_port}",
                        f"http://127.0.0.1:{worker_port}", token, log, web)  # fmt: skip
        finally:
            stop_group(web)
            stop_group(worker)


def _answers(process: subprocess.Popen[bytes], url: str, log: Path) -> bool:
    assert process.poll() is None, log.read_text(errors="replace")[-4000:]
    try:
        return httpx.get(url, timeout=2).status_code in (200, 401)
    except httpx.HTTPError:
        return False


def test_one_scrape_shows_every_granian_worker(stack: Stack) -> None:
    """Traffic over fresh connections (so both workers serve some), then one scrape."""
    for _ in range(20):
        assert httpx.get(f"{stack.web}/", timeout=10).status_code == 200
    for _ in range(10):  # a post that is not there: one `find` on `posts` each
        assert httpx.get(f"{stack.web}/posts/{ObjectId()}", timeout=10).status_code == 404

    def complete() -> Samples | None:
        samples = stack.scrape()
        found = len(workers(samples)) == 2 and values(samples, "vibetuner_db_pool_connections")
        return samples if found else None

    samples = until(complete, "both workers' process figures and the pool gauges")
    assert sum(values(samples, "vibetuner_http_request_duration_seconds_count", route="/")) == 20
    finds = values(samples, "vibetuner_db_call_seconds_count", command="find", collection="posts")
    assert sum(finds) >= 10, "the command histogram, by collection"
    assert values(samples, "vibetuner_db_pool_max_connections")[0] == 2 * 100, "both pools"
    in_use = values(samples, "vibetuner_db_pool_checked_out_connections")
    assert len(in_use) == 1 and 0 <= in_use[0] <= 2, "idle but for a dbStats or a heartbeat"
    assert sum(values(samples, "vibetuner_db_pool_wait_seconds_count")) >= 10
    for name in ("vibetuner_process_cpu_seconds", "vibetuner_process_open_fds",
                 "vibetuner_process_resident_memory_bytes",
                 "vibetuner_process_max_fds"):  # fmt: skip
        per_worker = {labels["worker"]: v for n, labels, v in samples if n == name}
        assert len(per_worker) == 2 and all(v > 0 for v in per_worker.values()), name
    pids = {int(w) for w in workers(samples)}
    assert stack.web_process.pid not in pids, "the workers, not the launcher"
    assert values(samples, "vibetuner_db_replica_lag_seconds") == [0], "one node: no lag"
    until(lambda: values(stack.scrape(), "vibetuner_db_objects", database="app"),
          "dbStats gauges, sampled every DB_STATS_INTERVAL")  # fmt: skip


def test_a_dead_workers_figures_leave_and_its_counts_stay(stack: Stack) -> None:
    before = stack.scrape()
    served = sum(values(before, "vibetuner_http_request_duration_seconds_count"))
    victim = sorted(workers(before))[0]
    os.kill(int(victim), signal.SIGKILL)  # Granian starts another in its place

    def replaced() -> Samples | None:
        samples = stack.scrape()
        found = workers(samples)
        return samples if len(found) == 2 and victim not in found else None

    after = until(replaced, "the killed worker's figures gone, its successor's there")
    assert sum(values(after, "vibetuner_http_request_duration_seconds_count")) >= served, (
        "counters never go backwards: the dead worker's counts stay"
    )


def test_the_job_worker_serves_its_own_metrics(stack: Stack) -> None:
    assert httpx.get(f"{stack.worker}/metrics", timeout=5).status_code == 401, "a token is needed"
    session = httpx.Client(base_url=stack.web, timeout=10)
    login = session.get("/auth/login")
    form = {"email": "someone@example.com", "next": "/", "csrf_token": csrf_token_of(login.text)}
    sent = session.post("/auth/magic-link", data=form)
    assert sent.status_code == 200, sent.text[-500:]

    def ran() -> Samples | None:
        samples = stack.scrape(stack.worker)
        jobs = sum(values(samples, "vibetuner_jobs_total"))
        return samples if jobs >= 1 else None

    samples = until(ran, "the sign-in mail job counted by the worker")
    assert len(workers(samples)) == 1, "its own process, one figure of each"
    assert values(samples, "vibetuner_process_resident_memory_bytes")[0] > 0
    web_workers = workers(stack.scrape())
    assert not workers(samples) & web_workers, "the worker's figures are not the web's"


# -- the monitoring profile's files, checked offline and run for real ---------------------


def _binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed (apt-get install {package})")
    return found


def _serve(command: list[str], ready: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    until(lambda: _answers(process, ready, log), f"{command[0]} answers")
    return process


@pytest.fixture(scope="module")
def exporters(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Debian's node exporter, and its blackbox exporter with the demo's probe modules."""
    node_binary = _binary("prometheus-node-exporter", "prometheus-node-exporter")
    blackbox_binary = _binary("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    work = tmp_path_factory.mktemp("exporters")
    node, blackbox = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    started = [
        _serve([node_binary, f"--web.listen-address={node}"], f"http://{node}/metrics",
               work / "node.log"),
        _serve([blackbox_binary, f"--config.file={demo / 'monitoring' / 'blackbox.yml'}",
                f"--web.listen-address={blackbox}"], f"http://{blackbox}/metrics",
               work / "blackbox.log"),
    ]  # fmt: skip
    try:
        yield {"node": node, "blackbox": blackbox}
    finally:
        for process in started:
            stop_group(process)


def test_the_monitoring_files_pass_their_checkers(demo: Path) -> None:
    promtool = _binary("promtool", "prometheus")
    folder = demo / "monitoring"
    checked = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=folder,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "rules found" in checked.stdout, "with its alerts"
    blackbox = _binary("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    probes = subprocess.run([blackbox, "--config.check", "--config.file=blackbox.yml"],
                            cwd=folder, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probes.returncode == 0, probes.stdout + probes.stderr
    jobs = {job["job_name"] for job in _scrape_jobs(demo)}
    assert {"web", "worker", "node", "health-app", "health-tcp"} <= jobs


def _scrape_jobs(demo: Path) -> list[dict[str, Any]]:
    config = yaml.safe_load((demo / "monitoring" / "prometheus.yml").read_text())
    jobs: list[dict[str, Any]] = config["scrape_configs"]
    return jobs


def _queries(demo: Path) -> dict[str, str]:
    """Every query of the dashboard's panels and of the alert rules, by where it is."""
    dashboard = json.loads((demo / "monitoring/grafana/dashboards/app.json").read_text())
    found = {f"panel {panel['title']!r} {target['refId']}": target["expr"]
             for panel in dashboard["panels"] for target in panel.get("targets", [])}  # fmt: skip
    rules = yaml.safe_load((demo / "monitoring" / "alerts.yml").read_text())
    found |= {f"alert {rule['alert']}": rule["expr"]
              for group in rules["groups"] for rule in group["rules"]}  # fmt: skip
    return found


NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
               "or", "unless", "offset"}  # fmt: skip


def metric_names(query: str) -> set[str]:
    """The metric names a PromQL query reads: its identifiers, less strings, label matchers,
    ranges, grouping clauses, functions and keywords."""
    import re

    text = re.sub(r'"[^"]*"', "", query)
    text = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", text)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()[:1]
        if following != "(" and match.group() not in NOT_METRICS:
            names.add(match.group())
    return names


def _exposed(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _defined() -> set[str]:
    """Every sample name our registry defines, labelled children or not (some appear only
    after an event: a checkout failure, or a MongoDB that reports its volume)."""
    import vibetuner.monitoring._db
    import vibetuner.monitoring._process  # noqa: F401  both define metrics at import

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {family.name + suffix for family in REGISTRY.collect()
            for suffix in suffixes.get(family.type, ("",))}  # fmt: skip


def test_every_dashboard_and_alert_query_names_an_exported_metric(
    demo: Path, stack: Stack, exporters: dict[str, str]
) -> None:
    dashboard = json.loads((demo / "monitoring/grafana/dashboards/app.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(p["datasource"]["uid"] == "prometheus" and p["targets"] for p in panels)
    datasource = yaml.safe_load(
        (demo / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["uid"] == "prometheus", "the uid the panels name"
    ready = {"module": "http_ready", "target": f"{stack.web}/health/ready"}
    probe = httpx.get(f"http://{exporters['blackbox']}/probe", params=ready, timeout=10)
    assert "probe_success 1" in probe.text, probe.text
    scraped = [*stack.scrape(), *stack.scrape(stack.worker)]
    node = httpx.get(f"http://{exporters['node']}/metrics", timeout=10).text
    exported = _defined() | {n for n, _, _ in scraped} | _exposed(node) | _exposed(probe.text)
    exported.add("up")
    unknown = {
        where: sorted(metric_names(query) - exported)
        for where, query in _queries(demo).items()
        if metric_names(query) - exported
    }
    assert unknown == {}, unknown
    for needed in ("node_network_receive_bytes_total", "node_disk_read_bytes_total",
                   "node_filesystem_avail_bytes", "vibetuner_process_resident_memory_bytes",
                   "vibetuner_db_pool_checked_out_connections", "vibetuner_db_replica_lag_seconds",
                   "probe_success"):  # fmt: skip
        assert any(needed in metric_names(q) for q in _queries(demo).values()), needed


def test_prometheus_scrapes_the_demo_with_its_own_jobs(
    demo: Path, stack: Stack, exporters: dict[str, str], tmp_path: Path
) -> None:
    """The demo's scrape jobs, pointed at this machine: static targets instead of Docker's
    DNS, the token instead of the private network; relabelling and paths as they are."""
    prometheus = _binary("prometheus", "prometheus")
    web, worker = stack.web.removeprefix("http://"), stack.worker.removeprefix("http://")
    targets = {"web": web, "worker": worker, "node": exporters["node"], "health-app": web}
    jobs = []
    for job in _scrape_jobs(demo):
        if job["job_name"] not in targets:
            continue
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        if job["job_name"] in ("web", "worker"):
            job["authorization"] = {"credentials": stack.token}
        for rule in job.get("relabel_configs", []):
            if rule.get("replacement") == "blackbox:9115":
                rule["replacement"] = exporters["blackbox"]
        jobs.append(job)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(demo / "monitoring" / "alerts.yml")], "scrape_configs": jobs,
    }))  # fmt: skip
    address = f"127.0.0.1:{free_port()}"
    command = [prometheus, f"--config.file={config}", f"--web.listen-address={address}",
               f"--storage.tsdb.path={tmp_path / 'tsdb'}"]  # fmt: skip
    server = _serve(command, f"http://{address}/-/ready", tmp_path / "prometheus.log")

    def query(promql: str, where: str = "") -> list[dict[str, Any]]:
        answer = httpx.get(f"http://{address}/api/v1/query", params={"query": promql}, timeout=10)
        ok = answer.status_code == 200 and answer.json()["status"] == "success"
        assert ok, f"{where or promql}: {answer.text}"
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def scalar(promql: str) -> float | None:
        found = query(promql)
        return float(found[0]["value"][1]) if found else None

    try:
        for _ in range(5):
            httpx.get(f"{stack.web}/posts/{ObjectId()}", timeout=10)
        until(lambda: scalar("sum(up)") == 4 and scalar("count(up)") == 4, "every job up")
        until(lambda: scalar('probe_success{job="health-app"}') == 1, "the health probe passes")
        until(lambda: scalar('count(count by (worker) '
                             '(vibetuner_process_resident_memory_bytes{job="web"}))') == 2,
              "both Granian workers in the one web target")  # fmt: skip
        assert scalar('count(vibetuner_process_resident_memory_bytes{job="worker"})') == 1
        posts = 'sum(vibetuner_db_call_seconds_count{job="web", collection="posts"})'
        until(lambda: (scalar(posts) or 0) >= 5, "the command histogram by collection")
        assert (scalar('sum(vibetuner_db_pool_max_connections{job="web"})') or 0) > 0
        for where, promql in _queries(demo).items():
            query(promql, where)

        def rules() -> list[dict[str, Any]]:
            answer = httpx.get(f"http://{address}/api/v1/rules", timeout=10).json()
            return [rule for group in answer["data"]["groups"] for rule in group["rules"]]

        alerts = [where for where in _queries(demo) if where.startswith("alert")]
        assert len(rules()) == len(alerts), "every alert rule loaded"
        until(lambda: all(r["health"] == "ok" for r in rules()), "every alert rule evaluates")
    finally:
        stop_group(server)
