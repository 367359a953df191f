"""Run a generated app scaled out on this machine: N instances behind Caddy.

    python scale/run.py demo  --app-dir demo    # start it all, print the URLs, Ctrl-C stops
    python scale/run.py bench --app-dir demo    # 60 s of mixed load at 64 connections

bench also measures the per-instance figures docs/scaling.md builds on (CPU per request,
memory per worker, MongoDB connections per worker, Redis operations per request, a
session's bytes, the cost of SSE fan-out) and writes them with the load's result to
bench/results/scale-*.json, the input of `python scale/capacity.py`.

Needs caddy, redis-server and (for bench) wrk on PATH; run it with the repo's venv.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale import _fanout as fanout
from scale._cluster import Cluster
from scale._figures import (
    commit,
    load_figures,
    machine,
    memory_figures,
    redis_benchmark,
    session_figures,
    summary,
)
from scale._load import run_mixed, wrk_available
from scale._measure import ConnectionSampler, RedisCli, Snapshot, Window
from scale._visitor import Visitor, messages_to, sign_in

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
MEMBER = "scale@example.com"
IDLE_SECONDS = 10.0
POST_CARD = re.compile(r'<li [^>]*id="post-([0-9a-f]{24})".*?</li>', re.DOTALL)
BENCH_ENV = {"SSE_MAX_PER_CLIENT": "1000", "SSE_MAX_ANONYMOUS": "1000"}
"""The fan-out run holds hundreds of visitors' streams from one address."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _describe(cluster: Cluster) -> str:
    lines = [
        f"Load balancer (Caddy)  {cluster.lb_url}   (CA: {cluster.ca_file})",
        *(f"Instance {n.index + 1}             {n.url}" for n in cluster.nodes),
        f"Database               {cluster.db_url}",
        f"Redis                  {cluster.env['REDIS_URL']}",
        f"SMTP sink              {cluster.smtp.host}:{cluster.smtp.port} (links print here)",
        f"Logs                   {cluster.workdir}",
    ]
    return "\n".join(lines)


def demo(cluster: Cluster) -> int:
    print(_describe(cluster), flush=True)
    print("Everything is up. Ctrl-C stops it all.", flush=True)
    shown = 0
    while True:
        messages = list(cluster.smtp.messages)
        for index in range(shown, len(messages)):
            links = " ".join(cluster.smtp.links(index))
            print(f"mail to {messages[index].get('To')}: {links}", flush=True)
        shown = len(messages)
        time.sleep(0.5)


def _idle(cluster: Cluster, redis: RedisCli, seconds: float) -> Window:
    """What the cluster spends doing nothing for `seconds` (health checks, the job worker's
    polling, metrics sampling); subtracted from every measured window."""
    print(f"scale: measuring the idle cluster for {seconds:.0f} s…", flush=True)
    before = Snapshot.take(cluster, redis)
    time.sleep(seconds)  # the measurement itself: nothing to wait for
    return Window.between(before, Snapshot.take(cluster, redis))


def _a_post(member: Visitor) -> tuple[str, int]:
    """Post once as the member, as htmx does: the post's own path, which reads MongoDB on
    every request (the feed and the pages are cached in Redis), and its card's bytes."""
    headers = {"HX-Request": "true", "X-CSRF-Token": member.csrf("/posts")}
    form = {"content": "A post the load reads back by id, through MongoDB."}
    created = member.request("POST", "/posts", headers=headers, data=form)
    card = POST_CARD.search(created.text)
    if created.status_code != 200 or card is None:
        raise RuntimeError(f"scale: posting failed ({created.status_code})")
    return f"/posts/{card[1]}", len(card[0].encode())


def bench(cluster: Cluster, duration: float, connections: int) -> int:
    if not wrk_available():
        print("scale: wrk is not on PATH (apt-get install wrk)", file=sys.stderr)
        return 1
    print(_describe(cluster), flush=True)
    started = machine()
    member = sign_in(cluster, MEMBER)
    assert messages_to(cluster, MEMBER)
    post, card_bytes = _a_post(member)
    redis = RedisCli(cluster.env["REDIS_URL"])
    idle = _idle(cluster, redis, IDLE_SECONDS)
    with tempfile.TemporaryDirectory() as tmp:
        mix = (cluster.lb_url, member.cookie)
        run_mixed(*mix, 2, connections, Path(tmp), (post,))  # warm up
        before = Snapshot.take(cluster, redis)
        with ConnectionSampler(cluster) as sampler:
            result = run_mixed(*mix, duration, connections, Path(tmp), (post,))
        after = Snapshot.take(cluster, redis)
    member.close()
    load = Window.between(before, after).less_idle(idle)
    print("scale: measuring memory, sessions, SSE fan-out and one Redis…", flush=True)
    figures: dict[str, Any] = {
        "commit": commit(),
        "machine": started,
        "setup": {
            "instances": len(cluster.nodes),
            "workers_per_instance": cluster.workers,
            "connections": connections,
            "duration_s": duration,
            "routes": result["routes"],
            "database": "SecantusDB (MongoDB wire protocol), one node",
            "idle_seconds_subtracted": IDLE_SECONDS,
        },
        "load": load_figures(result["requests"], load, sampler),
        "memory": memory_figures(cluster),
        "sessions": session_figures(redis),
        "sse": fanout.measure(cluster, redis, idle, size=card_bytes),
        "redis_benchmark": redis_benchmark(cluster.env["REDIS_URL"]),
    }
    now = datetime.now(UTC)
    report: dict[str, Any] = {
        "timestamp": now.isoformat(),
        "setup": f"{len(cluster.nodes)} instances x {cluster.workers} workers behind Caddy "
        "(TLS, round robin), 1 job worker, SecantusDB, redis-server",
        "load": result,
        "figures": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scale-{now:%Y%m%dT%H%M%SZ}.json"
    for target in (path, RESULTS / "scale-latest.json"):
        target.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{duration:.0f} s at {connections} connections on {', '.join(result['routes'])}:\n"
        f"  {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, {result['requests']} requests, "
        f"5xx {result['server_errors']}, other non-2xx {result['non_2xx']}, "
        f"socket errors {result['errors']}\n"
        f"per instance: {summary(figures)}\n"
        f"wrote {path}\nthe 10- and 100-instance table: python scale/capacity.py {path}"
    )
    return 1 if result["server_errors"] or result["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("command", choices=["demo", "bench"])
    parser.add_argument("--app-dir", type=Path, required=True, help="a generated app")
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=2, help="Granian workers per instance"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="bench seconds")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    app_dir: Path = args.app_dir.resolve()
    if not (app_dir / ".venv" / "bin" / "vibetuner").exists():
        parser.error(
            f"{app_dir} has no .venv/bin/vibetuner: generate it with `make demo-app`"
        )
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # even when started in background
    with tempfile.TemporaryDirectory(prefix="vibetuner-scale-") as tmp:
        extra = BENCH_ENV if args.command == "bench" else {}
        cluster = Cluster(
            app_dir,
            Path(tmp),
            instances=args.instances,
            workers=args.workers,
            extra_env=dict(extra),
        )
        try:
            print("scale: starting the cluster…", file=sys.stderr, flush=True)
            cluster.start()
            if args.command == "demo":
                return demo(cluster)
            return bench(cluster, args.duration, args.connections)
        except KeyboardInterrupt:
            print("\nscale: stopping…", file=sys.stderr)
            return 0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            cluster.stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    raise SystemExit(main())
