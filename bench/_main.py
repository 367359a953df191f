"""Orchestration: start servers one at a time, load them, collect and report."""

import argparse
import os
import platform
import secrets
import signal
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench import _mongo, _posts, _redis, _report, _signin, _wrk
from bench._procs import Child, Processes, RunFailed
from bench._proctree import cpu_seconds
from bench._servers import (
    PING,
    Launch,
    Loader,
    Running,
    cold_start,
    idle_rss,
    raw_launch,
    vibetuner_launch,
)
from bench.loadgen import LoadResult

PARTIAL = "/posts (HX)"
SIGNED_IN = "/account (signed in)"
SELF_TEST_PAGE_BYTES = 12_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Vibetuner vs raw Starlette benchmark")
    parser.add_argument(
        "--app-dir", type=Path, help="generated app with .venv/bin/vibetuner"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per path")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds before each path"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--cold-start-runs", type=int, default=3, help="median of N launches"
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--seed-posts", type=int, default=50)
    parser.add_argument("--posts-collection", default="posts")
    parser.add_argument(
        "--self-test", action="store_true", help="raw app as 'ours'; no DB"
    )
    args = parser.parse_args(argv)
    if not args.self_test and args.app_dir is None:
        parser.error("--app-dir is required unless --self-test")
    if args.loadgen == "wrk" and not _wrk.available():
        parser.error("wrk is not on PATH")
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="vibetuner-bench-") as tmp:
        procs = Processes(Path(tmp))
        try:
            results = _run(args, procs, Path(tmp), now)
        except RunFailed as exc:
            print(f"bench: FAILED: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            procs.stop_all()
            signal.signal(signal.SIGINT, signal.default_int_handler)
    results["targets"] = _report.targets(results)
    print(_report.table(results))
    print(f"\nwrote {_report.write_json(results, now)} and bench/results/latest.json")
    for failure in results["failures"]:
        print(f"FAILED  {failure}", file=sys.stderr)
    return 1 if results["failures"] else 0


def _run(
    args: argparse.Namespace, procs: Processes, tmp: Path, now: datetime
) -> dict[str, Any]:
    tool = (
        args.loadgen
        if args.loadgen != "auto"
        else ("wrk" if _wrk.available() else "python")
    )
    loader = Loader(tool, args.duration, args.connections, args.warmup)
    results: dict[str, Any] = {
        "meta": {
            "timestamp": now.isoformat(),
            "tool": tool,
            "duration_s": args.duration,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "self_test": args.self_test,
            "app_dir": str(args.app_dir.resolve()) if args.app_dir else None,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "paths": {"/": {}, PING: {}},
        "cold_start_ms": {},
        "idle_rss": {},
        "db": None,
        "seed": None,
        "warnings": [],
        "failures": [],
    }
    db: tuple[Child, str] | None = None
    env: dict[str, str] = {}
    if args.self_test:
        ours_launch = raw_launch("ours", SELF_TEST_PAGE_BYTES)
    else:
        app_dir: Path = args.app_dir.resolve()
        storage = tmp / "db"
        storage.mkdir()
        db_child, db_base = _mongo.start(procs, app_dir / ".venv/bin/python", storage)
        db = db_child, f"{db_base}/bench"
        env = {
            "DATABASE_URL": db[1],
            "ENVIRONMENT": "prod",
            "FORCE_HTTPS": "false",
            "COOKIE_SECURE": "false",
            "SECRET_KEY": secrets.token_hex(32),
            "EMAIL_PROVIDER": "outbox",
            "DEBUG": "false",
            "METRICS_ENABLED": "true",  # measured with metrics and request IDs on
            "BASE_URL": "http://127.0.0.1",  # links are followed by path
        }
        if _redis.available():
            _child, env["REDIS_URL"] = _redis.start(procs, tmp)
            results["meta"]["backends"] = (
                "SecantusDB + redis-server (sessions, rate limits)"
            )
        else:
            results["meta"]["backends"] = "SecantusDB only (no redis-server on PATH)"
        ours_launch = vibetuner_launch(app_dir, env)

    ours = _start(procs, ours_launch, args, results)
    signed_in: dict[str, str] = {}
    if db is not None and "REDIS_URL" in env:
        # With Redis, sign-in emails go through the job queue: run a worker, as in prod.
        worker = [
            str(app_dir / ".venv/bin/vibetuner"),
            "run",
            "worker",
            "--concurrency",
            "2",
        ]
        procs.start("worker", worker, cwd=app_dir, env=env)
    if db is not None:
        outbox = args.app_dir.resolve() / ".vibetuner" / "outbox"
        client = _signin.sign_in(ours, outbox)
        try:
            results["seed"] = _posts.seed(client, args.seed_posts, results["warnings"])
            signed_in = _signin.cookie_header(client)
        finally:
            client.close()
    page = httpx.get(ours.url("/"), timeout=10)
    if page.status_code != 200:
        results["warnings"].append(f"ours GET / returned {page.status_code}")
    results["page_bytes"] = len(page.content)
    results["idle_rss"]["ours"] = idle_rss(ours, loader)
    for path in ("/", PING):
        results["paths"][path]["ours"] = _load(loader, ours, path, {}, results)
    if signed_in:
        results["paths"][SIGNED_IN] = {
            "ours": _load(loader, ours, "/account", signed_in, results)
        }
    if db is not None:
        cpu_pids = {"app": ours.child.proc.pid, "db": db[0].proc.pid}
        row = _load(loader, ours, "/posts", _posts.HX, results, cpu_pids)
        results["paths"][PARTIAL] = {"ours": row}
        python = args.app_dir.resolve() / ".venv/bin/python"
        collection = args.posts_collection
        results["db"] = _posts.db_share(
            ours, python, db[1], collection, results["warnings"]
        )
    procs.stop_all()  # ours and its database: the raw run gets the whole machine

    raw = _start(procs, raw_launch("raw", results["page_bytes"]), args, results)
    results["idle_rss"]["raw"] = idle_rss(raw, loader)
    for path in ("/", PING):
        row = results["paths"][path]
        row["raw"] = _load(loader, raw, path, {}, results)
        row["ratio"] = (
            row["ours"]["rps"] / row["raw"]["rps"] if row["raw"]["rps"] else None
        )
    if SIGNED_IN in results["paths"]:
        row, raw_home = results["paths"][SIGNED_IN], results["paths"]["/"]["raw"]
        row["ratio"] = row["ours"]["rps"] / raw_home["rps"] if raw_home["rps"] else None
    procs.stop(raw.child)
    return results


def _start(
    procs: Processes, launch: Launch, args: argparse.Namespace, results: dict[str, Any]
) -> Running:
    print(
        f"bench: starting {launch.name} ({args.cold_start_runs} cold starts)",
        file=sys.stderr,
    )
    server = cold_start(procs, launch, args.cold_start_runs, args.startup_timeout)
    results["cold_start_ms"][launch.name] = sorted(server.cold_start_ms)[
        len(server.cold_start_ms) // 2
    ]
    results["cold_start_ms"][f"{launch.name}_runs"] = server.cold_start_ms
    return server


def _load(
    loader: Loader,
    server: Running,
    path: str,
    headers: dict[str, str],
    results: dict[str, Any],
    cpu_pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Warm up, then measure; with `cpu_pids`, also CPU ms per request per process."""
    print(
        f"bench: loading {server.child.name} {path} for {loader.duration:g} s",
        file=sys.stderr,
    )
    url = server.url(path)
    if loader.warmup > 0:
        loader.run_once(url, loader.warmup, headers)
    before = {name: cpu_seconds(pid) for name, pid in (cpu_pids or {}).items()}
    result: LoadResult = loader.run_once(url, loader.duration, headers)
    row = asdict(result)
    if cpu_pids and result.requests:
        row["cpu_ms_per_request"] = {
            name: (cpu_seconds(pid) - before[name]) * 1000 / result.requests
            for name, pid in cpu_pids.items()
        }
    if result.requests == 0:
        results["failures"].append(
            f"{server.child.name} {path}: no responses ({result.errors} errors)"
        )
    elif result.non_2xx or result.errors:
        results["warnings"].append(
            f"{server.child.name} {path}: {result.non_2xx} non-2xx, {result.errors} errors"
        )
    return row
