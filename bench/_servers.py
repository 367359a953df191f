"""How each server under test is launched, and the per-server measurements."""

import asyncio
import http.client
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _proctree, _wrk
from bench._procs import Child, Processes, RunFailed, free_port, wait_ready
from bench.loadgen import LoadResult, run_load

REPO_ROOT = Path(__file__).resolve().parent.parent
PING = "/health/ping"
READY = "/"
"""Ready means serving the page: a probe that answers before the app can is not a start."""


@dataclass
class Launch:
    """A recipe for one server process; `argv` gets the port appended per launch."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def start(self, procs: Processes) -> tuple[Child, int]:
        port = free_port()
        return procs.start(
            self.name, [*self.argv, "--port", str(port)], self.cwd, self.env
        ), port


def vibetuner_launch(name: str, app_dir: Path, env: Mapping[str, str]) -> Launch:
    argv = [str(app_dir / ".venv/bin/vibetuner"), "run", "prod", "--workers", "1"]
    return Launch(name, [*argv, "--host", "127.0.0.1"], app_dir, dict(env))


LOOP = ["--loop", "uvloop"]
"""The event loop `vibetuner run prod` serves on: raw and hand-written apps run on it too."""


def raw_launch(
    name: str, app_dir: Path | None, framework_dir: Path | None, env: Mapping[str, str]
) -> Launch:
    """The raw app rendering `app_dir`'s landing page (the framework's skeleton without one).

    `env` carries the settings the app is run with (ENVIRONMENT, DEBUG, ...): the raw app reads
    them over the app's .env, as the framework does.
    """
    argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--workers", "1"]
    argv += [*LOOP, "--host", "127.0.0.1", "bench.raw_app:app"]
    raw_env = {**env, "PYTHONPATH": str(REPO_ROOT)}
    raw_env["BENCH_APP_DIR"] = str(app_dir) if app_dir else ""
    raw_env["BENCH_FRAMEWORK_DIR"] = str(framework_dir) if framework_dir else ""
    return Launch(name, argv, REPO_ROOT, raw_env)


def hand_launch(
    name: str, app_dir: Path, framework_dir: Path, env: Mapping[str, str]
) -> Launch:
    """The hand-written same-stack app (bench/hand_app.py), on the app's own Python: the
    same library versions as ours. `env` carries DATABASE_URL and REDIS_URL."""
    argv = [str(app_dir / ".venv/bin/python"), "-m", "granian", "--interface", "asgi"]
    argv += [*LOOP, "--workers", "1", "--host", "127.0.0.1", "bench.hand_app:app"]
    hand_env = {**env, "PYTHONPATH": str(REPO_ROOT)}
    hand_env["BENCH_APP_DIR"] = str(app_dir)
    hand_env["BENCH_FRAMEWORK_DIR"] = str(framework_dir)
    return Launch(name, argv, REPO_ROOT, hand_env)


def framework_dir(app_dir: Path) -> Path:
    """The vibetuner package the app runs (found, not imported, by the app's own Python)."""
    code = (
        "import importlib.util; "
        "print(importlib.util.find_spec('vibetuner').submodule_search_locations[0])"
    )
    done = subprocess.run(
        [str(app_dir / ".venv/bin/python"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RunFailed(f"cannot find vibetuner in {app_dir}/.venv:\n{done.stderr}")
    return Path(done.stdout.strip())


@dataclass
class Loader:
    tool: str  # "wrk" or "python"
    duration: float
    connections: int
    warmup: float

    def run_once(
        self, url: str, seconds: float, headers: Mapping[str, str] | None
    ) -> LoadResult:
        if self.tool == "wrk":
            return _wrk.run(url, seconds, self.connections, headers)
        return asyncio.run(run_load(url, seconds, self.connections, headers))


@dataclass
class Running:
    child: Child
    port: int
    cold_start_ms: list[float]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start_server(procs: Processes, launch: Launch, timeout: float) -> Running:
    """Launch once and wait for the first 200 on `/` (the page, not only the probe)."""
    child, port = launch.start(procs)
    return Running(child, port, [wait_ready(child, port, READY, timeout) * 1000])


@dataclass
class Footprint:
    """Every launch of one server: its cold start and its idle worker's RSS."""

    cold_start_ms: list[float] = field(default_factory=list)
    rss: list[dict[str, Any]] = field(default_factory=list)


def footprints(
    procs: Processes,
    launches: list[Launch],
    runs: int,
    timeout: float,
    loader: Loader,
    progress: Callable[[str], None] = lambda _name: None,
) -> dict[str, Footprint]:
    """Launch every server `runs` times in interleaved rounds (each round starts with
    another). Each launch: time launch -> first 200 on `/`, serve `/` under load for the
    warm-up, idle, read its worker's RSS, stop it; so every server has served the same page,
    and only that, when its RSS is read."""
    found = {launch.name: Footprint() for launch in launches}
    for number in range(runs):
        turn = number % len(launches)
        for launch in launches[turn:] + launches[:turn]:
            progress(launch.name)
            server = start_server(procs, launch, timeout)
            found[launch.name].cold_start_ms += server.cold_start_ms
            found[launch.name].rss.append(idle_rss(server, loader))
            procs.stop(server.child, grace=0.0)  # measured only: no drain
    return found


def idle_rss(server: Running, loader: Loader) -> dict[str, Any]:
    """Load `/` for the warm-up, idle one second, then read the worker's (and launcher's)
    RSS."""
    if loader.warmup > 0:
        loader.run_once(server.url("/"), loader.warmup, None)
    time.sleep(1.0)
    worker, launcher = _proctree.worker_rss(server.child.proc.pid)
    return {
        "worker_mb": worker.rss_mb if worker else None,
        "worker_pid": worker.pid if worker else None,
        "worker_cmdline": worker.cmdline if worker else None,
        "launcher_mb": launcher.rss_mb if launcher else None,
        "launcher_pid": server.child.proc.pid,
    }


def serial_latency_ms(
    port: int, path: str, headers: Mapping[str, str], seconds: float
) -> float:
    """Mean latency of back-to-back requests on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("GET", path, headers=dict(headers))
            conn.getresponse().read()
            samples.append(time.perf_counter() - started)
    finally:
        conn.close()
    return statistics.fmean(samples) * 1000
