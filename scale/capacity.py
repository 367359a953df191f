"""The capacity model: what 10 and 100 instances need, from the figures `make scale-bench`
measured on one machine.

    python scale/capacity.py bench/results/scale-latest.json
    python scale/capacity.py docs/scaling-figures.json --workers-per-instance 2

Every per-instance figure comes from the file; every assumption (workers and cores per
instance, the CPU target, the load's shape, the server limits) is a flag with a default
that says where it comes from, and the output prints them all. Standard library only, so
it runs with any Python 3.11.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTANCES = (10, 100)
MONITORING_PER_MEMBER = 2
"""Connections a pymongo client keeps to each replica-set member besides its pool: the
streaming heartbeat and the round-trip-time monitor (MongoDB 4.4+, PyMongo 4)."""
PYMONGO_MAX_POOL = 100
"""pymongo's default maxPoolSize, per member the client sends operations to."""
RESERVE = 0.10
"""Share of a MongoDB node's connection limit left for everything that is not the app:
migrations, backups, shells, monitoring agents (Atlas itself keeps 10 per node)."""
MONGO_LIMITS = {"Atlas M30": 3000, "mongod default": 65536}
"""Incoming connections one node accepts: Atlas M30 (the tier Atlas recommends for
production; M10 1,500, M40 6,000, M50 16,000, M60 32,000), and mongod's documented
net.maxIncomingConnections (on Linux also capped by the file-descriptor limit)."""


class BadInput(Exception):
    """The file is missing, not JSON, or not a scale-bench result."""


@dataclass(frozen=True)
class Assumptions:
    """What the model takes as given; each is a command-line flag."""

    workers_per_instance: int = 1
    """deploy/k8s runs one Granian worker per pod (SERVER_WORKERS=1)."""
    cores_per_instance: float = 1.0
    """deploy/k8s's CPU limit per web pod."""
    cpu_target: float = 0.70
    """The HorizontalPodAutoscaler's target: pods are added above 70% CPU."""
    job_workers: int = 2
    """deploy/k8s's worker Deployment (replicas: 2); they hold MongoDB pools too."""
    max_pool_size: int = PYMONGO_MAX_POOL
    events_per_second: float = 10.0
    """Broadcasts published per second, all channels together."""
    streams_per_instance: int = 100
    """Open SSE streams per instance (browsers with a live page open)."""
    users: int = 1_000_000
    sessions_per_user: float = 1.0
    redis_ops_per_s: float | None = None
    """One Redis's ops/s; unset: redis-benchmark's GET rate from the figures file."""
    mongo_limits: tuple[tuple[str, int], ...] = tuple(MONGO_LIMITS.items())

    @property
    def redis_label(self) -> str:
        if self.redis_ops_per_s is None:
            return "ops/s (redis-benchmark GET, measured)"
        return f"{self.redis_ops_per_s:,.0f} ops/s (given)"


def _number(figures: dict[str, Any], path: str) -> float:
    node: Any = figures
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise BadInput(f"it has no {path}")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float) or node < 0:
        raise BadInput(f"{path} is {node!r}, not a number of 0 or more")
    return float(node)


def load(path: Path) -> dict[str, Any]:
    """The `figures` of a scale-bench result (or a file holding only them)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path} is not readable JSON ({exc})") from None
    figures = data.get("figures", data) if isinstance(data, dict) else None
    if not isinstance(figures, dict):
        raise BadInput(f"{path} holds no figures object")
    for needed in REQUIRED:
        _number(figures, needed)
    if _number(figures, "load.requests_per_core_second") == 0:
        raise BadInput("load.requests_per_core_second is 0")
    return figures


REQUIRED = (
    "load.requests_per_core_second",
    "load.redis_ops_per_request",
    "load.redis_cpu_us_per_request",
    "load.mongo_connections_per_worker.peak",
    "memory.pss_mib_per_worker",
    "memory.pss_mib_per_launcher",
    "sessions.session_bytes",
    "sessions.user_index_bytes",
    "sse.app_cpu_us_per_delivery",
    "sse.app_cpu_us_per_event_per_listening_worker",
    "sse.bytes_per_delivery",
    "sse.redis_bytes_per_event_per_listening_worker",
    "sse.redis_cpu_us_per_event_per_listening_worker",
    "redis_benchmark.ops_per_s.get",
)


def pool_size_under(limit: int, processes: int) -> int:
    """The largest maxPoolSize with which `processes` full pools (and their monitoring
    connections) stay within `limit` less the reserve; 0 when even that cannot fit."""
    room = math.floor(limit * (1 - RESERVE))
    return max(0, room // processes - MONITORING_PER_MEMBER)


def model(
    figures: dict[str, Any], instances: int, given: Assumptions
) -> dict[str, float]:
    """The arithmetic for `instances` instances; every value is a plain number."""

    def f(path: str) -> float:
        return _number(figures, path)

    web = instances * given.workers_per_instance
    processes = web + given.job_workers
    requests = (
        instances
        * given.cores_per_instance
        * given.cpu_target
        * f("load.requests_per_core_second")
    )
    listeners = web  # every worker with a stream receives every event
    events = given.events_per_second
    result = {
        "instances": instances,
        "web_workers": web,
        "requests_per_s": requests,
        "memory_gib": (
            web * f("memory.pss_mib_per_worker")
            + instances * f("memory.pss_mib_per_launcher")
        )
        / 1024,
        "mongo_measured": processes * f("load.mongo_connections_per_worker.peak"),
        "mongo_full_pools": processes * (given.max_pool_size + MONITORING_PER_MEMBER),
        "redis_ops_per_s": requests * f("load.redis_ops_per_request"),
        "redis_cpu_requests": requests * f("load.redis_cpu_us_per_request") / 1e6,
        "pubsub_messages_per_s": events * listeners,
        "pubsub_redis_mib_per_s": events
        * listeners
        * f("sse.redis_bytes_per_event_per_listening_worker")
        / 2**20,
        "redis_cpu_pubsub": events
        * listeners
        * f("sse.redis_cpu_us_per_event_per_listening_worker")
        / 1e6,
        "sse_deliveries_per_s": events * instances * given.streams_per_instance,
        "sse_cpu_per_instance": events
        * (
            given.workers_per_instance
            * f("sse.app_cpu_us_per_event_per_listening_worker")
            + given.streams_per_instance * f("sse.app_cpu_us_per_delivery")
        )
        / 1e6
        / given.cores_per_instance,
        "sse_out_mib_per_s_per_instance": events
        * given.streams_per_instance
        * f("sse.bytes_per_delivery")
        / 2**20,
        "session_gib": given.users
        * (
            given.sessions_per_user * f("sessions.session_bytes")
            + f("sessions.user_index_bytes")
        )
        / 2**30,
    }
    result["redis_cpu"] = result["redis_cpu_requests"] + result["redis_cpu_pubsub"]
    redis_capacity = given.redis_ops_per_s or f("redis_benchmark.ops_per_s.get")
    result["redis_vs_benchmark"] = result["redis_ops_per_s"] / redis_capacity
    for name, limit in given.mongo_limits:
        result[f"share:{name}"] = result["mongo_full_pools"] / limit
        result[f"pool_under:{name}"] = pool_size_under(limit, processes)
    return result


def sse_event_limit(figures: dict[str, Any], given: Assumptions) -> float:
    """Broadcasts per second at which delivering them takes all of an instance's cores."""
    per_listener = _number(figures, "sse.app_cpu_us_per_event_per_listening_worker")
    per_delivery = _number(figures, "sse.app_cpu_us_per_delivery")
    per_event = (
        given.workers_per_instance * per_listener
        + given.streams_per_instance * per_delivery
    ) / 1e6
    return given.cores_per_instance / per_event


def breaking_points(
    figures: dict[str, Any], given: Assumptions
) -> list[tuple[int, str]]:
    """For each limit, the fewest instances that reach it (at most 100,000 looked at)."""

    def first(reached: Any) -> int | None:
        low, high = 1, 100_000
        if not reached(model(figures, high, given)):
            return None
        while low < high:
            mid = (low + high) // 2
            low, high = (
                (low, mid) if reached(model(figures, mid, given)) else (mid + 1, high)
            )
        return low

    limits: list[tuple[str, Any]] = [
        (
            "one Redis's CPU (requests' commands plus pub/sub fan-out)",
            lambda m: m["redis_cpu"] >= 1.0,
        ),
        (f"one Redis's {given.redis_label}", lambda m: m["redis_vs_benchmark"] >= 1.0),
    ]
    for name, limit in given.mongo_limits:
        full = (
            f"{name} ({limit:,} connections per node) with every pool full "
            f"(maxPoolSize={given.max_pool_size})"
        )
        limits.append(
            (
                full,
                lambda m, limit=limit: m["mongo_full_pools"] >= limit * (1 - RESERVE),
            )
        )
        limits.append(
            (
                f"{name} ({limit:,}) at the pools' measured size",
                lambda m, limit=limit: m["mongo_measured"] >= limit * (1 - RESERVE),
            )
        )
    found = [
        (at, what) for what, reached in limits if (at := first(reached)) is not None
    ]
    return sorted(found)


def _fmt(value: float, kind: str) -> str:
    if kind == "%":
        return f"{value * 100:,.0f}%"
    if kind == "gib":
        return f"{value:,.1f} GiB"
    if kind == "mib":
        return f"{value:,.1f} MiB/s"
    if kind == "pool":
        return f"{value:,.0f}" if value else "none fits"
    return f"{value:,.0f}"


def render(figures: dict[str, Any], given: Assumptions, source: str) -> str:
    """The table, its inputs and the limits, as plain text (docs/scaling.md quotes it)."""
    runs = [model(figures, n, given) for n in INSTANCES]
    machine = figures.get("machine", {})
    load_ = figures["load"]
    sessions, sse = figures["sessions"], figures["sse"]
    peak = load_["mongo_connections_per_worker"]["peak"]
    lines = [
        f"Capacity model from {source}",
        (
            f"  measured at commit {figures.get('commit', '?')} on "
            f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
        ),
        (
            f"  per core: {load_['requests_per_core_second']:,.0f} req/s; per request: "
            f"{load_['redis_ops_per_request']:.2f} Redis ops, "
            f"{load_['redis_cpu_us_per_request']:.1f} us of Redis CPU"
        ),
        (
            f"  per worker: {figures['memory']['pss_mib_per_worker']:.0f} MiB PSS, "
            f"{peak:.0f} MongoDB connections (peak)"
        ),
        (
            f"  per session: {sessions['session_bytes']:.0f} B + "
            f"{sessions['user_index_bytes']:.0f} B user index; per SSE delivery: "
            f"{sse['app_cpu_us_per_delivery']:.1f} us CPU, "
            f"{sse['bytes_per_delivery']:.0f} B"
        ),
        (
            f"Assumed: {given.workers_per_instance} worker(s) and "
            f"{given.cores_per_instance:g} core(s) per instance at {given.cpu_target:.0%} "
            f"CPU, {given.job_workers} job workers, maxPoolSize={given.max_pool_size},"
        ),
        (
            f"  {given.events_per_second:g} broadcasts/s, {given.streams_per_instance} SSE "
            f"streams per instance, {given.users:,} users x {given.sessions_per_user:g} "
            "session"
        ),
    ]
    table: list[tuple[str, str, str]] = [
        ("web workers", "web_workers", "n"),
        (f"requests/s (at {given.cpu_target:.0%} of each instance's CPU)", "requests_per_s",
         "n"),
        ("app memory (PSS of workers and launchers)", "memory_gib", "gib"),
        ("MongoDB connections to the primary, pools as measured", "mongo_measured", "n"),
        (f"MongoDB connections to the primary, pools full ({given.max_pool_size})",
         "mongo_full_pools", "n"),
    ]  # fmt: skip
    for name, limit in given.mongo_limits:
        table += [
            (f"  share of {name} ({limit:,}), pools full", f"share:{name}", "%"),
            (f"  maxPoolSize that keeps full pools under 90% of {name}", f"pool_under:{name}",
             "pool"),
        ]  # fmt: skip
    table += [
        ("Redis ops/s", "redis_ops_per_s", "n"),
        (f"  share of one Redis's {given.redis_label}", "redis_vs_benchmark", "%"),
        ("Redis CPU for requests (share of its one core)", "redis_cpu_requests", "%"),
        ("pub/sub messages out of Redis/s (one per listening worker)",
         "pubsub_messages_per_s", "n"),
        ("  their bytes out of Redis", "pubsub_redis_mib_per_s", "mib"),
        ("  Redis CPU for pub/sub (share of its one core)", "redis_cpu_pubsub", "%"),
        ("Redis CPU in all (share of its one core)", "redis_cpu", "%"),
        ("SSE events delivered/s", "sse_deliveries_per_s", "n"),
        ("  SSE CPU per instance (share of its cores)", "sse_cpu_per_instance", "%"),
        ("  SSE bytes out per instance", "sse_out_mib_per_s_per_instance", "mib"),
        (f"session store for {given.users:,} users (Redis memory)", "session_gib", "gib"),
    ]  # fmt: skip
    width = max(len(label) for label, _, _ in table) + 2
    lines += ["", " " * width + "".join(f"{f'{n} instances':>16}" for n in INSTANCES)]
    for label, key, kind in table:
        values = "".join(f"{_fmt(run[key], kind):>16}" for run in runs)
        lines.append(f"{label:{width}}{values}")
    lines += ["", "Limits, by the instances at which each is reached:"]
    points = breaking_points(figures, given)
    lines += [f"  {at:>7,} instances: {what}" for at, what in points] or [
        "  none up to 100,000"
    ]
    rate = sse_event_limit(figures, given)
    lines.append(
        f"  any count: {rate:,.0f} broadcasts/s take a whole instance's CPU for SSE "
        f"({given.streams_per_instance} streams each; every worker receives every event)"
    )
    return "\n".join(lines)


def _positive(kind: type[int | float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be above 0")
        return value

    return parse


def _limit(text: str) -> tuple[str, int]:
    name, sep, count = text.rpartition("=")
    if not sep or not name or not count.isdigit() or int(count) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} should be NAME=CONNECTIONS, e.g. M40=6000"
        )
    return name, int(count)


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Assumptions()
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "results", type=Path, help="a scale-bench result (bench/results/scale-*.json)"
    )
    parser.add_argument(
        "--workers-per-instance",
        type=_positive(int),
        default=defaults.workers_per_instance,
    )
    parser.add_argument(
        "--cores-per-instance",
        type=_positive(float),
        default=defaults.cores_per_instance,
    )
    parser.add_argument(
        "--cpu-target",
        type=_positive(float),
        default=defaults.cpu_target,
        help="the CPU share instances run at (0.7: the HPA's target)",
    )
    parser.add_argument("--job-workers", type=int, default=defaults.job_workers)
    parser.add_argument(
        "--max-pool-size",
        type=_positive(int),
        default=defaults.max_pool_size,
        help="maxPoolSize in DATABASE_URL (pymongo's default: 100)",
    )
    parser.add_argument(
        "--events-per-second", type=_positive(float), default=defaults.events_per_second
    )
    parser.add_argument(
        "--streams-per-instance", type=int, default=defaults.streams_per_instance
    )
    parser.add_argument("--users", type=_positive(int), default=defaults.users)
    parser.add_argument(
        "--redis-ops-per-s",
        type=_positive(float),
        help="one Redis's capacity (default: the redis-benchmark GET rate measured)",
    )
    parser.add_argument(
        "--sessions-per-user", type=_positive(float), default=defaults.sessions_per_user
    )
    parser.add_argument("--mongo-limit", type=_limit, action="append", metavar="NAME=N",
                        help="a MongoDB node's connection limit (repeatable; default: "
                        "Atlas M30=3000 and mongod default=65536)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.cpu_target > 1:
        parser.error(f"--cpu-target {args.cpu_target} is above 1 (100% of the cores)")
    if args.job_workers < 0 or args.streams_per_instance < 0:
        parser.error("--job-workers and --streams-per-instance cannot be negative")
    given = Assumptions(
        workers_per_instance=args.workers_per_instance,
        cores_per_instance=args.cores_per_instance,
        cpu_target=args.cpu_target,
        job_workers=args.job_workers,
        max_pool_size=args.max_pool_size,
        events_per_second=args.events_per_second,
        streams_per_instance=args.streams_per_instance,
        users=args.users,
        sessions_per_user=args.sessions_per_user,
        redis_ops_per_s=args.redis_ops_per_s,
        mongo_limits=tuple(args.mongo_limit or MONGO_LIMITS.items()),
    )
    try:
        figures = load(args.results)
    except BadInput as exc:
        print(
            f"capacity: {args.results} cannot be used: {exc}. Give it the file "
            "`make scale-bench` writes (it prints the path), e.g. "
            "bench/results/scale-latest.json.",
            file=sys.stderr,
        )
        return 2
    print(render(figures, given, args.results.as_posix()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
