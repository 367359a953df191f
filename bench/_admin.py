"""The admin's list on a large and a small collection, measured in the same run.

Issue 17's goal: the first page and a search on 200k documents cost at most 1.2x what they
cost on 2k, so the admin stays fast however large the collection grows. Each size gets its
own database on one SecantusDB server and its own app process; the bench user is made an
admin with the app's own CLI (`vibetuner users ...`) before it signs in.
"""

import http.client
import os
import statistics
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import _signin
from bench._procs import Processes, RunFailed
from bench._progress import Steps
from bench._servers import Running, start_server, vibetuner_launch

LARGE, SMALL = 200_000, 2_000
GOAL = 1.2
"""Each 200k figure is at most 1.2x its 2k figure: the cost does not grow with the size."""
FIRST_PAGE = "/admin/posts"
PREFIX = "Admin bench post 0001"
"""Matches 100 documents in either collection (posts 000100-000199): a full first page."""
SEARCH = f"/admin/posts?q={quote(PREFIX)}"
HX = {"HX-Request": "true"}
"""The list's results as htmx asks for them (sort links, search, next page)."""

_SEED = """
import sys, datetime, pymongo
url, count = sys.argv[1], int(sys.argv[2])
posts = pymongo.MongoClient(url).get_default_database()["posts"]
start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
batch = 10_000
for first in range(0, count, batch):
    posts.insert_many([
        {"content": f"Admin bench post {n:06d}", "author_id": None, "author_name": "Bench",
         "created_at": start + datetime.timedelta(seconds=n), "edited_at": None}
        for n in range(first, min(first + batch, count))
    ], ordered=False)
print(posts.estimated_document_count())
"""


def seed(python: Path, db_url: str, count: int) -> float:
    """insert_many in batches, straight into the database; returns the seconds it took."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", _SEED, db_url, str(count)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 or done.stdout.strip() != str(count):
        raise RunFailed(f"seeding {count} posts failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def make_admin(app_dir: Path, env: Mapping[str, str]) -> None:
    """The operator's command (as `make demo` runs it): create the admin, or grant the role."""
    cli = str(app_dir / ".venv/bin/vibetuner")
    email = _signin.EMAIL
    for argv in (
        [cli, "users", "create", email, "--role", "admin"],
        [cli, "users", "roles", email, "--add", "admin"],
    ):
        done = subprocess.run(
            argv,
            cwd=app_dir,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode == 0:
            return
    raise RunFailed(f"could not make {email} an admin:\n{done.stdout}{done.stderr}")


def plan_seconds(large: int, small: int) -> float:
    """Expected seconds of the admin measurement, for the progress bar."""
    return (large + small) / 10_000 + 40 + 12 * 3.0


def latency_ms(
    port: int, path: str, headers: Mapping[str, str], seconds: float, at_least: int = 5
) -> dict[str, float]:
    """Median and mean of back-to-back requests on one keep-alive connection: at least
    `at_least` of them, and for at least `seconds`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    try:
        while len(samples) < at_least or time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("GET", path, headers=dict(headers))
            response = conn.getresponse()
            body = response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200 or b"data-admin-row" not in body:
                raise RunFailed(
                    f"GET {path} answered {response.status} without list rows"
                )
    finally:
        conn.close()
    return {
        "median_ms": statistics.median(samples) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000,
        "requests": len(samples),
    }


def measure(
    app_dir: Path,
    env: Mapping[str, str],
    db_base: str,
    procs: Processes,
    steps: Steps,
    sizes: tuple[int, int] = (LARGE, SMALL),
    timeout: float = 60.0,
    *,
    seconds: float = 3.0,
    rounds: int = 3,
) -> dict[str, Any]:
    """Seed both collections, start an app on each, sign in as an admin, then measure the
    first page and the search on both in interleaved rounds (medians of the rounds)."""
    servers: dict[str, tuple[Running, dict[str, str]]] = {}
    out: dict[str, Any] = {"sizes": {}, "seed_s": {}}
    for label, count in zip(("large", "small"), sizes, strict=True):
        app_env = {**env, "DATABASE_URL": f"{db_base}/bench_admin_{label}"}
        steps.step(f"admin: seeding {count} posts ({label})", max(count / 10_000, 1.0))
        out["seed_s"][label] = seed(
            app_dir / ".venv/bin/python", app_env["DATABASE_URL"], count
        )
        out["sizes"][label] = count
        steps.step(f"admin: starting the app on {label} and signing in", 15.0)
        server = start_server(
            procs, vibetuner_launch(f"admin-{label}", app_dir, app_env), timeout
        )
        make_admin(app_dir, app_env)
        worker = None
        if "REDIS_URL" in app_env:  # sign-in emails go through the job queue
            argv = [str(app_dir / ".venv/bin/vibetuner"), "run", "worker"]
            worker = procs.start(
                f"admin-worker-{label}", argv, cwd=app_dir, env=app_env
            )
        client = _signin.sign_in(server, app_dir / ".vibetuner" / "outbox")
        try:
            cookie = _signin.cookie_header(client)
        finally:
            client.close()
            if worker is not None:
                procs.stop(worker)
        servers[label] = (server, cookie)
    runs: dict[str, dict[str, list[dict[str, float]]]] = {"large": {}, "small": {}}
    for number in range(rounds):
        order = ["large", "small"] if number % 2 == 0 else ["small", "large"]
        for label in order:
            server, cookie = servers[label]
            for name, path in (("first_page", FIRST_PAGE), ("search", SEARCH)):
                steps.step(f"admin round {number + 1}: {name} on {label}", seconds)
                figures = latency_ms(server.port, path, {**cookie, **HX}, seconds)
                runs[label].setdefault(name, []).append(figures)
    for label, by_name in runs.items():
        out[label] = {
            name: {
                "median_ms": statistics.median(r["median_ms"] for r in rows),
                "requests": sum(int(r["requests"]) for r in rows),
            }
            for name, rows in by_name.items()
        }
    out["ratios"] = {
        name: out["large"][name]["median_ms"] / out["small"][name]["median_ms"]
        for name in ("first_page", "search")
    }
    for server, _cookie in servers.values():
        procs.stop(server.child)
    return out


def lines(admin: Mapping[str, Any]) -> list[str]:
    """The admin's figures for the printed table."""
    large, small = admin["sizes"]["large"], admin["sizes"]["small"]
    seeded = f"{admin['seed_s']['large']:.1f} s and {admin['seed_s']['small']:.1f} s"
    out = [f"admin list, serial medians: {large} vs {small} docs (seeded in {seeded})"]
    for name, label in (("first_page", "first page"), ("search", f"search {PREFIX!r}")):
        out.append(
            f"  {label:<34}{admin['large'][name]['median_ms']:>10.1f} ms"
            f"{admin['small'][name]['median_ms']:>10.1f} ms"
            f"{admin['ratios'][name]:>9.2f}x"
        )
    return out
