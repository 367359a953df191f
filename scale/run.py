"""Run a generated app scaled out on this machine: N instances behind Caddy.

    python scale/run.py demo  --app-dir demo    # start it all, print the URLs, Ctrl-C stops
    python scale/run.py bench --app-dir demo    # 60 s of mixed load at 64 connections

Needs caddy, redis-server and (for bench) wrk on PATH; run it with the repo's venv.
"""

from __future__ import annotations

import argparse
import json
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

from scale._cluster import Cluster
from scale._load import MIXED_ROUTES, run_mixed, wrk_available
from scale._visitor import messages_to, sign_in

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
MEMBER = "scale@example.com"


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


def bench(cluster: Cluster, duration: float, connections: int) -> int:
    if not wrk_available():
        print("scale: wrk is not on PATH (apt-get install wrk)", file=sys.stderr)
        return 1
    print(_describe(cluster), flush=True)
    member = sign_in(cluster, MEMBER)
    assert messages_to(cluster, MEMBER)
    with tempfile.TemporaryDirectory() as tmp:
        run_mixed(cluster.lb_url, member.cookie, 2, connections, Path(tmp))  # warm up
        result = run_mixed(
            cluster.lb_url, member.cookie, duration, connections, Path(tmp)
        )
    member.close()
    now = datetime.now(UTC)
    report: dict[str, Any] = {
        "timestamp": now.isoformat(),
        "setup": f"{len(cluster.nodes)} instances x {cluster.workers} workers behind Caddy "
        "(TLS, round robin), 1 job worker, SecantusDB, redis-server",
        "load": result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scale-{now:%Y%m%dT%H%M%SZ}.json"
    for target in (path, RESULTS / "scale-latest.json"):
        target.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{duration:.0f} s at {connections} connections on {', '.join(MIXED_ROUTES)}:\n"
        f"  {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, {result['requests']} requests, "
        f"5xx {result['server_errors']}, other non-2xx {result['non_2xx']}, "
        f"socket errors {result['errors']}\nwrote {path}"
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
        cluster = Cluster(
            app_dir, Path(tmp), instances=args.instances, workers=args.workers
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
