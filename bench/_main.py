"""Orchestration: start every server, check the pages match, load them in interleaved rounds."""

import argparse
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench import (
    _admin,
    _assets,
    _footprint,
    _mongo,
    _pages,
    _posts,
    _redis,
    _report,
    _signin,
    _wrk,
)
from bench._procs import Child, Processes, RunFailed
from bench._proctree import cpu_seconds
from bench._progress import Steps
from bench._servers import (
    PING,
    Launch,
    Loader,
    Running,
    framework_dir,
    hand_launch,
    raw_launch,
    start_server,
    vibetuner_launch,
)
from bench.loadgen import LoadResult

PARTIAL = "/posts (HX)"
SIGNED_IN = "/account (signed in)"


@dataclass
class Subject:
    """One server under test and what loading it needs."""

    role: str
    server: Running
    launch: Launch
    app_dir: Path | None = None
    db: tuple[Child, str] | None = None
    cookie: dict[str, str] = field(default_factory=dict)
    loaded: bool = True
    """Loaded in the rounds; the hand-written app is measured for cold start and RSS only."""


# Expected seconds of each kind of step, for the progress bar's remaining time.
START_S, SIGN_IN_S, DB_SHARE_S = 4.0, 15.0, 7.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Vibetuner vs raw Starlette benchmark")
    parser.add_argument(
        "--app-dir", type=Path, help="generated app with .venv/bin/vibetuner"
    )
    parser.add_argument(
        "--base-dir",
        type=Path,
        help="the same app generated from the baseline commit (make bench: demo-base)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds before each load"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians reported"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--cold-start-runs",
        type=int,
        default=7,
        help="launches per server, in interleaved rounds; medians reported",
    )
    parser.add_argument(
        "--build-assets",
        action="store_true",
        help="npm run build-prod in each app first (make bench does)",
    )
    parser.add_argument(
        "--footprint",
        action="store_true",
        help="cold start and idle RSS only: no load rounds",
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--seed-posts", type=int, default=50)
    parser.add_argument("--posts-collection", default="posts")
    parser.add_argument(
        "--require-base-ratio",
        action="store_true",
        help="fail when ours is below 0.95x base on any path (default: report it)",
    )
    parser.add_argument(
        "--admin-only",
        action="store_true",
        help="only the admin list on a large and a small collection (ours, no load)",
    )
    parser.add_argument("--admin-docs", type=int, default=_admin.LARGE)
    parser.add_argument("--admin-small", type=int, default=_admin.SMALL)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="raw app as 'ours'; no DB, no hand-written app",
    )
    args = parser.parse_args(argv)
    if not args.self_test and args.app_dir is None:
        parser.error("--app-dir is required unless --self-test")
    if args.self_test and args.admin_only:
        parser.error("--admin-only needs an app: drop --self-test")
    if args.self_test and args.base_dir is not None:
        parser.error("--base-dir needs an app: drop --self-test")
    if args.loadgen == "wrk" and not _wrk.available():
        parser.error("wrk is not on PATH")
    if args.rounds < 1 or args.cold_start_runs < 1:
        parser.error("--rounds and --cold-start-runs must be at least 1")
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
            if args.build_assets:
                _assets.build(
                    [d for d in (args.app_dir, args.base_dir) if d is not None]
                )
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
    results["targets"] = _report.targets(
        results,
        enforce=not args.self_test,
        require_base_ratio=args.require_base_ratio,
    )
    results["failures"] += [
        f"goal missed: {t['name']} = {_report.fmt(t['value'])} (target {t['target']})"
        for t in results["targets"]
        if t["enforced"] and not t["pass"]
    ]
    print(_report.table(results))
    print(f"\nwrote {_report.write_json(results, now)} and bench/results/latest.json")
    for failure in results["failures"]:
        print(f"FAILED  {failure}", file=sys.stderr)
    return 1 if results["failures"] else 0


def _app_env() -> dict[str, str]:
    return {
        "ENVIRONMENT": "prod",
        "FORCE_HTTPS": "false",
        "COOKIE_SECURE": "false",
        "SECRET_KEY": secrets.token_hex(32),
        "EMAIL_PROVIDER": "outbox",
        "DEBUG": "false",
        "METRICS_ENABLED": "true",  # measured with metrics and request IDs on
        "BASE_URL": "http://127.0.0.1",  # links are followed by path
    }


def _backends(
    role: str, app_dir: Path, procs: Processes, tmp: Path
) -> tuple[tuple[Child, str], dict[str, str]]:
    """The app's own SecantusDB and redis-server (as in production), and its settings."""
    storage = tmp / f"db-{role}"
    storage.mkdir()
    db_child, db_base = _mongo.start(procs, app_dir / ".venv/bin/python", storage)
    env = {**_app_env(), "DATABASE_URL": f"{db_base}/bench"}
    if _redis.available():
        redis_dir = tmp / f"redis-{role}"
        redis_dir.mkdir()
        _child, env["REDIS_URL"] = _redis.start(procs, redis_dir)
    return (db_child, db_base), env


def _start_app(
    role: str,
    app_dir: Path,
    args: argparse.Namespace,
    procs: Processes,
    tmp: Path,
    results: dict[str, Any],
    steps: Steps,
) -> tuple[Subject, dict[str, str]]:
    """The app with its own SecantusDB and redis-server, signed in and seeded."""
    steps.step(f"starting {role}'s database and Redis, then {role}", START_S)
    (db_child, db_base), env = _backends(role, app_dir, procs, tmp)
    launch = vibetuner_launch(role, app_dir, env)
    subject = Subject(
        role,
        start_server(procs, launch, args.startup_timeout),
        launch,
        app_dir,
        (db_child, env["DATABASE_URL"]),
    )
    steps.step(f"signing in to {role} and seeding {args.seed_posts} posts", SIGN_IN_S)
    worker = None
    if "REDIS_URL" in env:
        # With Redis, sign-in emails go through the job queue: run a worker, as in prod.
        argv = [str(app_dir / ".venv/bin/vibetuner"), "run", "worker"]
        worker = procs.start(
            f"worker-{role}", [*argv, "--concurrency", "2"], cwd=app_dir, env=env
        )
    client = _signin.sign_in(subject.server, app_dir / ".vibetuner" / "outbox")
    try:
        results["seed"][role] = _posts.seed(
            client, args.seed_posts, results["warnings"]
        )
        subject.cookie = _signin.cookie_header(client)
    finally:
        client.close()
    if worker is not None:
        procs.stop(worker)  # only sign-in needed it: keep the machine quiet under load
    return subject, {**env, "DATABASE_URL": f"{db_base}/bench_hand"}


def _plan(args: argparse.Namespace, servers: int, apps: int) -> float:
    """Expected seconds of the whole run, for the progress bar."""
    per_load = args.warmup + args.duration
    planned = servers * START_S + apps * SIGN_IN_S
    planned += servers * args.cold_start_runs * (_footprint.COLD_S + args.warmup + 1.0)
    if not args.footprint:
        loads = 2 * (servers - 1) + (0 if args.self_test else 2 * apps)
        planned += args.rounds * loads * per_load + apps * DB_SHARE_S
    return planned


def _run(
    args: argparse.Namespace, procs: Processes, tmp: Path, now: datetime
) -> dict[str, Any]:
    tool = (
        args.loadgen
        if args.loadgen != "auto"
        else ("wrk" if _wrk.available() else "python")
    )
    loader = Loader(tool, args.duration, args.connections, args.warmup)
    app_dir: Path | None = args.app_dir.resolve() if args.app_dir else None
    base_dir: Path | None = args.base_dir.resolve() if args.base_dir else None
    results: dict[str, Any] = {
        "meta": {
            "timestamp": now.isoformat(),
            "tool": tool,
            "duration_s": args.duration,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "cold_start_runs": args.cold_start_runs,
            "footprint_only": args.footprint,
            "self_test": args.self_test,
            "admin_only": args.admin_only,
            "app_dir": str(app_dir) if app_dir else None,
            "base_dir": str(base_dir) if base_dir else None,
            "base_commit": _base_commit(base_dir),
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
            "python": platform.python_version(),
            "backends": None
            if args.self_test
            else (
                "SecantusDB + redis-server per app (sessions, rate limits)"
                if _redis.available()
                else "SecantusDB per app only (no redis-server on PATH)"
            ),
        },
        "paths": {},
        "page_bytes": {},
        "cold_start_ms": {},
        "idle_rss": {},
        "db": {},
        "seed": {},
        "warnings": [],
        "failures": [],
    }
    if args.admin_only:
        assert app_dir is not None
        with Steps(_admin.plan_seconds(args.admin_docs, args.admin_small)) as steps:
            results["admin"] = _measure_admin(args, app_dir, procs, tmp, steps)
        results["meta"]["loadavg_end"] = os.getloadavg()
        return results
    apps = 0 if args.self_test else 1 + (base_dir is not None)
    servers = 2 if args.self_test else 2 + apps
    with_admin = not (args.self_test or args.footprint)  # --footprint: launches only
    plan = _plan(args, servers, apps) + (
        _admin.plan_seconds(args.admin_docs, args.admin_small) if with_admin else 0
    )
    with Steps(plan) as steps:
        subjects = _start_subjects(args, procs, tmp, results, steps, app_dir, base_dir)
        _check_pages(subjects, results, steps)
        launches = [subject.launch for subject in subjects]
        _footprint.measure(args, procs, launches, loader, results, steps)
        if not args.footprint:
            _measure_loads(args, subjects, loader, results, steps)
        if with_admin and app_dir is not None:
            results["admin"] = _measure_admin(args, app_dir, procs, tmp, steps)
    results["meta"]["loadavg_end"] = os.getloadavg()
    return results


def _measure_admin(
    args: argparse.Namespace, app_dir: Path, procs: Processes, tmp: Path, steps: Steps
) -> dict[str, Any]:
    """The admin list on a large and a small collection, on a SecantusDB of their own."""
    steps.step("admin: starting its database and Redis", START_S)
    (_db, db_base), env = _backends("admin", app_dir, procs, tmp)
    sizes = (args.admin_docs, args.admin_small)
    return _admin.measure(
        app_dir, env, db_base, procs, steps, sizes, args.startup_timeout
    )


def _start_subjects(
    args: argparse.Namespace,
    procs: Processes,
    tmp: Path,
    results: dict[str, Any],
    steps: Steps,
    app_dir: Path | None,
    base_dir: Path | None,
) -> list[Subject]:
    """Start every server once (they stay up for the loads), ours and base signed in."""
    subjects: list[Subject] = []
    if args.self_test:
        for role in ("raw", "ours"):
            steps.step(f"starting {role}", START_S)
            launch = raw_launch(role, None, None, {})
            subjects.append(
                Subject(role, start_server(procs, launch, args.startup_timeout), launch)
            )
        return subjects
    assert app_dir is not None
    framework = framework_dir(app_dir)
    steps.step("starting raw", START_S)
    launch = raw_launch("raw", app_dir, framework, _app_env())
    subjects.append(
        Subject("raw", start_server(procs, launch, args.startup_timeout), launch)
    )
    ours, hand_env = _start_app("ours", app_dir, args, procs, tmp, results, steps)
    subjects.append(ours)
    # The hand-written app shares ours's database server (its own database) and Redis.
    steps.step("starting hand", START_S)
    launch = hand_launch("hand", app_dir, framework, hand_env)
    server = start_server(procs, launch, args.startup_timeout)
    subjects.append(Subject("hand", server, launch, loaded=False))
    if base_dir is not None:
        base, _ = _start_app("base", base_dir, args, procs, tmp, results, steps)
        subjects.append(base)
    return subjects


def _measure_loads(
    args: argparse.Namespace,
    subjects: list[Subject],
    loader: Loader,
    results: dict[str, Any],
    steps: Steps,
) -> None:
    loads: list[tuple[str, str, dict[str, str] | None]] = [
        ("/", "/", {}),
        (PING, PING, {}),
    ]
    if not args.self_test:
        loads += [(SIGNED_IN, "/account", None), (PARTIAL, "/posts", _posts.HX)]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        label: {} for label, _, _ in loads
    }
    loaded = [subject for subject in subjects if subject.loaded]
    for number in range(1, args.rounds + 1):
        # Each round starts with another server, so none always runs last (or first).
        turn = (number - 1) % len(loaded)
        order = loaded[turn:] + loaded[:turn]
        for label, path, headers in loads:
            for subject in order:
                if subject.role == "raw" and path not in ("/", PING):
                    continue
                steps.step(
                    f"round {number} of {args.rounds}: {subject.role} {path}",
                    args.warmup + args.duration,
                )
                # The server's CPU per request (its launcher and workers), reported beside
                # requests per second: it shows where a ratio's cost is spent.
                cpu_pids = {"app": subject.server.child.proc.pid}
                if label == PARTIAL and subject.db is not None:
                    cpu_pids["db"] = subject.db[0].proc.pid
                sent = subject.cookie if headers is None else headers
                row = _load(loader, subject.server, path, sent, results, cpu_pids)
                runs[label].setdefault(subject.role, []).append(row)
    for label, by_role in runs.items():
        results["paths"][label] = {
            role: _median(rows) for role, rows in by_role.items()
        }
    _ratios(results["paths"])

    for subject in subjects:
        if subject.db is not None and subject.app_dir is not None:
            steps.step(f"DB share of the posts partial: {subject.role}", DB_SHARE_S)
            results["db"][subject.role] = _posts.db_share(
                subject.server,
                subject.app_dir / ".venv/bin/python",
                subject.db[1],
                args.posts_collection,
                results["warnings"],
            )


def _check_pages(
    subjects: list[Subject], results: dict[str, Any], steps: Steps
) -> None:
    """Raw's and hand's pages must be ours but for nonces and CSRF tokens; a different base
    is noted."""
    pages: dict[str, str] = {}
    for subject in subjects:
        page = httpx.get(subject.server.url("/"), timeout=10)
        if page.status_code != 200:
            raise RunFailed(f"{subject.role} GET / answered {page.status_code}")
        pages[subject.role] = page.text
        results["page_bytes"][subject.role] = len(page.content)
    sizes = ", ".join(f"{role} {n} B" for role, n in results["page_bytes"].items())
    steps.note(f"GET / sizes: {sizes}")
    for role in ("raw", "hand"):
        if role not in pages:
            continue
        diff = _pages.difference(pages["ours"], pages[role], ("ours /", f"{role} /"))
        if diff:
            raise RunFailed(
                f"the {role} app's page is not ours (compared without nonces and CSRF "
                f"tokens; {sizes}), so its ratios would compare unlike work:\n{diff}"
            )
    results["pages_match"] = True
    if "base" in pages:
        diff = _pages.difference(
            pages["base"], pages["ours"], ("base /", "ours /"), static_hashes=True
        )
        if diff:
            first = diff.splitlines()[2:6]
            results["warnings"].append(
                "base's / differs from ours (static hashes aside): "
                + " | ".join(line[:80] for line in first)
            )


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the rounds' req/s and latencies; counts summed; each round's req/s kept."""
    out: dict[str, Any] = {
        key: statistics.median(row[key] for row in rows)
        for key in ("rps", "p50_ms", "p99_ms", "mean_ms")
    }
    for key in ("requests", "non_2xx", "errors"):
        out[key] = sum(row[key] for row in rows)
    out["rounds_rps"] = [row["rps"] for row in rows]
    cpu = [row["cpu_ms_per_request"] for row in rows if row.get("cpu_ms_per_request")]
    if cpu:
        out["cpu_ms_per_request"] = {
            name: statistics.median(c[name] for c in cpu) for name in cpu[0]
        }
    return out


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or not b.get("rps"):
        return None
    return float(a["rps"]) / float(b["rps"])


def _cpu_ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """b's server CPU per request over a's: like a rate ratio, above 1 when a costs less."""
    spent = [(row or {}).get("cpu_ms_per_request", {}).get("app") for row in (a, b)]
    if not spent[0] or not spent[1]:
        return None
    return float(spent[1]) / float(spent[0])


def _ratios(paths: dict[str, dict[str, Any]]) -> None:
    """ours and base against raw (a signed-in page against raw /), and ours against base;
    by requests per second (the goals) and by the server's CPU per request (reported)."""
    for label, row in paths.items():
        raw = row.get("raw") or (
            paths.get("/", {}).get("raw") if label == SIGNED_IN else None
        )
        row["ratio"] = _ratio(row.get("ours"), raw)
        row["base_ratio"] = _ratio(row.get("base"), raw)
        row["ours_vs_base"] = _ratio(row.get("ours"), row.get("base"))
        row["cpu_ratio"] = _cpu_ratio(row.get("ours"), raw)
        row["cpu_ours_vs_base"] = _cpu_ratio(row.get("ours"), row.get("base"))


def _base_commit(base_dir: Path | None) -> str | None:
    stamp = base_dir / ".bench-base-commit" if base_dir else None
    return stamp.read_text().strip() if stamp and stamp.is_file() else None


def _load(
    loader: Loader,
    server: Running,
    path: str,
    headers: dict[str, str],
    results: dict[str, Any],
    cpu_pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Warm up, then measure; with `cpu_pids`, also CPU ms per request per process."""
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
