"""The per-instance figures `make scale-bench` writes for `scale/capacity.py`: each one is
measured on the running cluster, none is assumed.

- requests per second per core: requests served / CPU seconds the instances spent;
- memory per worker: RSS, PSS and USS of each Granian worker after the load;
- MongoDB connections per worker: sockets each worker held to the database (its peak
  under load), and the server's own count;
- Redis operations per request: commands Redis processed during the load / requests;
- the session store: bytes one signed-in session takes in Redis (MEMORY USAGE);
- one Redis: redis-benchmark's GET and SET rates on this machine.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scale._cluster import Cluster
from scale._measure import ConnectionSampler, RedisCli, Window, memory_kb, workers

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    """Where the figures were measured: CPU model, cores, memory, kernel."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def commit() -> str:
    """The commit measured, with `+changes` when the tree differed from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short=10", "HEAD"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return f"{head}+changes" if dirty else head or "unknown"


def load_figures(
    requests: int, load: Window, sampler: ConnectionSampler
) -> dict[str, Any]:
    """CPU, Redis and database figures of one load run (`load` is net of idle)."""
    peaks = list(sampler.peak.values())
    return {
        "requests": requests,
        "app_cpu_s": round(load.app_cpu, 2),
        "requests_per_core_second": round(requests / load.app_cpu, 1),
        "app_cpu_ms_per_request": round(load.app_cpu / requests * 1000, 3),
        "caddy_cpu_ms_per_request": round(load.cpu["caddy"] / requests * 1000, 3),
        "db_cpu_ms_per_request": round(load.cpu["db"] / requests * 1000, 3),
        "redis_ops_per_request": round(load.redis_commands / requests, 3),
        "redis_calls_per_request": {
            name: round(count / requests, 3)
            for name, count in load.redis_calls.items()
            if count / requests >= 0.001
        },
        "redis_cpu_us_per_request": round(load.cpu["redis"] / requests * 1e6, 2),
        "redis_cpu_us_per_op": round(load.cpu["redis"] / load.redis_commands * 1e6, 3),
        "mongo_connections_per_worker": {
            "peak": max(peaks),
            "mean_of_peaks": round(statistics.mean(peaks), 2),
            "by_worker": peaks,
            "server_side_peak": sampler.server_peak,
            "workers": len(peaks),
        },
    }


def memory_figures(cluster: Cluster) -> dict[str, Any]:
    """Each worker's memory in MiB, and each launcher's (`vibetuner run prod` itself)."""
    per_worker = [
        memory_kb(pid) for group in workers(cluster).values() for pid in group
    ]
    launchers = [
        memory_kb(n.child.proc.pid) for n in cluster.nodes if n.child is not None
    ]

    def mean_mib(rows: list[dict[str, int]], key: str) -> float:
        return round(statistics.mean(row[key] for row in rows) / 1024, 1)

    return {
        "workers": len(per_worker),
        "rss_mib_per_worker": mean_mib(per_worker, "rss"),
        "pss_mib_per_worker": mean_mib(per_worker, "pss"),
        "uss_mib_per_worker": mean_mib(per_worker, "uss"),
        "rss_mib_per_launcher": mean_mib(launchers, "rss"),
        "pss_mib_per_launcher": mean_mib(launchers, "pss"),
    }


def session_figures(redis: RedisCli) -> dict[str, Any]:
    """Bytes one session takes in Redis (MEMORY USAGE): a signed-in one with its user's index
    set (`user_sessions:{id}`), and a visitor's."""
    signed_in: list[tuple[int, int]] = []
    visitors: list[tuple[int, int]] = []
    for key in redis.keys("session:*"):
        record = json.loads(redis.call("GET", key) or "{}")
        size = (redis.memory_usage(key), int(redis.call("STRLEN", key)))
        (signed_in if record.get("user_id") else visitors).append(size)
    indexes = [redis.memory_usage(key) for key in redis.keys("user_sessions:*")]
    if not signed_in or not indexes:
        raise RuntimeError("no signed-in session in Redis to measure (session:*)")
    return {
        "signed_in_measured": len(signed_in),
        "session_bytes": round(statistics.mean(size for size, _ in signed_in)),
        "session_value_bytes": round(
            statistics.mean(length for _, length in signed_in)
        ),
        "user_index_bytes": round(statistics.mean(indexes)),
        "visitors_measured": len(visitors),
        "visitor_session_bytes": (
            round(statistics.mean(size for size, _ in visitors)) if visitors else None
        ),
    }


def redis_benchmark(url: str, requests: int = 200_000) -> dict[str, Any]:
    """GET and SET per second from one redis-benchmark (50 clients, 600-byte values,
    no pipelining) against the cluster's Redis; the machine's other work shares its cores."""
    parts = urlsplit(url)
    argv = ["redis-benchmark", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port),
            "-t", "get,set", "-n", str(requests), "-c", "50", "-d", "600",
            "-r", "100000", "--csv"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    rates = {row["test"].lower(): round(float(row["rps"])) for row in rows}
    return {"argv": " ".join(argv[5:]), "ops_per_s": rates}


def summary(figures: dict[str, Any]) -> str:
    """The headline figures on one line."""
    load, memory, sse = figures["load"], figures["memory"], figures["sse"]
    return (
        f"{load['requests_per_core_second']:.0f} req/s per core, "
        f"{memory['pss_mib_per_worker']:.0f} MiB PSS per worker, "
        f"{load['mongo_connections_per_worker']['peak']} MongoDB connections per worker (peak), "
        f"{load['redis_ops_per_request']:.2f} Redis ops per request, "
        f"{figures['sessions']['session_bytes']} B per session, "
        f"{sse['app_cpu_us_per_delivery']:.0f} us CPU per SSE delivery"
    )
