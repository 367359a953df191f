"""What `make scale-bench` reads off the running cluster: CPU seconds, memory and database
sockets from /proc, and Redis's own counters through redis-cli.

CPU is what the kernel charged each process (utime + stime), never wall-clock time, so a
figure per core holds however busy the shared machine was. Database connections are the
sockets each process holds to the database port, and the ones the server holds open.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from bench._proctree import cpu_seconds, python_leaves
from scale._cluster import Cluster

_PROC = Path("/proc")
_ESTABLISHED = "01"
HARNESS_COMMANDS = frozenset(
    {
        "info",
        "memory|usage",
        "pubsub|numsub",
        "pubsub|channels",
        "scan",
        "strlen",
        "config|get",
    }
)
"""Commands this harness sends Redis itself; never counted as the app's."""


def workers(cluster: Cluster) -> dict[int, list[int]]:
    """Each instance's Granian workers (the Python leaves below its launcher), by index."""
    return {
        node.index: sorted(python_leaves(node.child.proc.pid))
        for node in cluster.nodes
        if node.child is not None
    }


def app_cpu(cluster: Cluster) -> float:
    """CPU seconds of every instance: its launcher and all its workers."""
    return sum(
        cpu_seconds(node.child.proc.pid)
        for node in cluster.nodes
        if node.child is not None
    )


def child_cpu(cluster: Cluster, name: str) -> float:
    """CPU seconds of one of the cluster's services: caddy, redis, db or jobs."""
    child = cluster.caddy.child if name == "caddy" else getattr(cluster, name)
    return 0.0 if child is None else cpu_seconds(child.proc.pid)


def memory_kb(pid: int) -> dict[str, int]:
    """RSS, PSS (shared pages split among their users) and USS (private pages) of `pid`."""
    fields: dict[str, int] = {}
    for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[name] = int(rest.split()[0])
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0), "uss": private}


def _socket_inodes(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        entries = list((_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return found
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def _tcp_sockets() -> list[tuple[int, int, int]]:
    """(local port, remote port, inode) of every established TCP socket on the machine."""
    rows = []
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != _ESTABLISHED:
                continue
            local = int(cols[1].rsplit(":", 1)[1], 16)
            remote = int(cols[2].rsplit(":", 1)[1], 16)
            rows.append((local, remote, int(cols[9])))
    return rows


def connections_to(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections each of `pids` holds to `port` (client side)."""
    table = _tcp_sockets()
    counts = {}
    for pid in pids:
        inodes = _socket_inodes(pid)
        counts[pid] = sum(
            1 for _, remote, inode in table if remote == port and inode in inodes
        )
    return counts


def accepted_on(pid: int, port: int) -> int:
    """How many connections the server `pid` holds open on its `port` (server side)."""
    inodes = _socket_inodes(pid)
    return sum(
        1 for local, _, inode in _tcp_sockets() if local == port and inode in inodes
    )


class ConnectionSampler:
    """Samples every worker's database connections once a second while the load runs; the
    pool grows on demand and never shrinks, so the peak is what the server must hold."""

    def __init__(self, cluster: Cluster, interval: float = 1.0) -> None:
        self.cluster = cluster
        self.port = int(urlsplit(cluster.db_url).port or 27017)
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.server_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = [pid for group in workers(self.cluster).values() for pid in group]
        for pid, count in connections_to(pids, self.port).items():
            self.peak[pid] = max(self.peak.get(pid, 0), count)
        if self.cluster.db is not None:
            server = accepted_on(self.cluster.db.proc.pid, self.port)
            self.server_peak = max(self.server_peak, server)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Self:
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(self.interval + 5)
        self.sample()


class RedisCli:
    """The cluster's redis-server, asked through redis-cli (no client library needed)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.argv = [
            "redis-cli",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port),
        ]

    def call(self, *args: str) -> str:
        done = subprocess.run(
            [*self.argv, *args], capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()

    def info(self, section: str = "all") -> dict[str, str]:
        fields = {}
        for line in self.call("INFO", section).splitlines():
            name, sep, value = line.partition(":")
            if sep and not name.startswith("#"):
                fields[name.strip()] = value.strip()
        return fields

    def command_calls(self) -> dict[str, int]:
        """Calls per command (INFO commandstats), the harness's own left out."""
        calls = {}
        for name, value in self.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            if command in HARNESS_COMMANDS:
                continue
            stats = dict(part.split("=", 1) for part in value.split(","))
            calls[command] = int(stats["calls"])
        return calls

    def keys(self, pattern: str) -> list[str]:
        """Every key matching `pattern`, by SCAN."""
        found: list[str] = []
        cursor = "0"
        while True:
            lines = self.call(
                "SCAN", cursor, "MATCH", pattern, "COUNT", "1000"
            ).splitlines()
            cursor, found = lines[0], found + [line for line in lines[1:] if line]
            if cursor == "0":
                return found

    def memory_usage(self, key: str) -> int:
        """Bytes `key` takes in Redis, value and overhead (MEMORY USAGE ... SAMPLES 0)."""
        return int(self.call("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)

    def subscribers(self, pattern: str) -> int:
        """Connections subscribed to the pub/sub channels matching `pattern`."""
        channels = [
            c for c in self.call("PUBSUB", "CHANNELS", pattern).splitlines() if c
        ]
        if not channels:
            return 0
        reply = self.call("PUBSUB", "NUMSUB", *channels).splitlines()
        return sum(int(count) for count in reply[1::2])


@dataclass(frozen=True)
class Snapshot:
    """The cluster's counters at one moment; two of them make a window."""

    at: float
    app_cpu: float
    cpu: dict[str, float]
    redis_calls: dict[str, int]
    redis_commands: int
    redis_out_bytes: int

    @classmethod
    def take(cls, cluster: Cluster, redis: RedisCli) -> Snapshot:
        stats = redis.info("stats")
        return cls(
            at=time.monotonic(),
            app_cpu=app_cpu(cluster),
            cpu={
                name: child_cpu(cluster, name)
                for name in ("caddy", "redis", "db", "jobs")
            },
            redis_calls=redis.command_calls(),
            redis_commands=int(stats["total_commands_processed"]),
            redis_out_bytes=int(stats["total_net_output_bytes"]),
        )


@dataclass(frozen=True)
class Window:
    """What the cluster spent between two snapshots."""

    seconds: float
    app_cpu: float
    cpu: dict[str, float]
    redis_calls: dict[str, float] = field(default_factory=dict)
    redis_commands: int = 0
    redis_out_bytes: int = 0

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot) -> Window:
        calls: dict[str, float] = {
            name: count - start.redis_calls.get(name, 0)
            for name, count in end.redis_calls.items()
            if count - start.redis_calls.get(name, 0) > 0
        }
        return cls(
            seconds=end.at - start.at,
            app_cpu=end.app_cpu - start.app_cpu,
            cpu={name: end.cpu[name] - start.cpu[name] for name in end.cpu},
            redis_calls=dict(sorted(calls.items(), key=lambda kv: -kv[1])),
            redis_commands=end.redis_commands - start.redis_commands,
            redis_out_bytes=end.redis_out_bytes - start.redis_out_bytes,
        )

    def less_idle(self, idle: Window) -> Window:
        """This window minus what the idle cluster spends in as long (health checks, the job
        worker's polling, metrics sampling), so what is left is the load's own cost."""
        share = self.seconds / idle.seconds
        return Window(
            seconds=self.seconds,
            app_cpu=self.app_cpu - idle.app_cpu * share,
            cpu={
                name: value - idle.cpu[name] * share for name, value in self.cpu.items()
            },
            redis_calls={
                name: count - idle.redis_calls.get(name, 0) * share
                for name, count in self.redis_calls.items()
            },
            redis_commands=round(self.redis_commands - idle.redis_commands * share),
            redis_out_bytes=round(self.redis_out_bytes - idle.redis_out_bytes * share),
        )
