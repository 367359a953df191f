"""MongoDB through pymongo's monitoring listeners: commands, the pool, heartbeats, dbStats.

Every handler is O(1) and takes no lock of ours: a dict lookup and one observation. The
pool's gauges are plain counters here, copied into Prometheus gauges when they are sampled
(`publish`); the servers' round trips and replication lag are read from the client's
topology description then. Database sizes come from `dbStats`, sampled on an interval by
one worker (`sample_db_stats`), never per scrape.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram
from pymongo import monitoring
from pymongo.common import MAX_POOL_SIZE
from pymongo.server_type import SERVER_TYPE

from vibetuner.monitoring._registry import FAST_BUCKETS, LABEL_LIMIT, REGISTRY

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient
    from pymongo.server_description import ServerDescription

logger = logging.getLogger("vibetuner.monitoring.db")

OTHER = "other"
NO_COLLECTION = "none"
"""The collection label of commands on the database or the server (ping, dbStats...)."""
KNOWN_COMMANDS = frozenset({
    "find", "getMore", "insert", "update", "delete", "findAndModify", "aggregate", "count",
    "distinct", "bulkWrite", "createIndexes", "listIndexes", "dropIndexes", "create", "drop",
    "listCollections", "collMod", "killCursors", "dbStats", "collStats", "ping", "hello",
    "endSessions", "commitTransaction", "abortTransaction", "dropDatabase", "listDatabases",
    "buildInfo", "serverStatus", "explain",
})  # fmt: skip
"""Command labels: any other command is counted as "other", so the label stays bounded."""
PENDING_LIMIT = 10_000
"""Commands started and not yet finished that we remember; a leak guard, never reached."""

_known_collections: set[str] = set()
Finished = monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent
Listener = (
    monitoring.CommandListener | monitoring.ConnectionPoolListener
    | monitoring.ServerHeartbeatListener
)  # fmt: skip


def track_collections(names: Iterable[str]) -> None:
    """Label commands on these collections by name; other collections count as "other"."""
    _known_collections.update(names)


def _buckets(name: str, doc: str, labels: tuple[str, ...]) -> Histogram:
    return Histogram(name, doc, labels, buckets=FAST_BUCKETS, registry=REGISTRY)


def _gauge(name: str, doc: str, labels: tuple[str, ...], mode: Any) -> Gauge:
    return Gauge(name, doc, labels, registry=REGISTRY, multiprocess_mode=mode)


CALL_SECONDS = _buckets("vibetuner_db_call_seconds", "MongoDB command latency.",
                        ("command", "collection"))  # fmt: skip
CALL_ERRORS = Counter("vibetuner_db_call_errors_total", "Failed MongoDB commands.",
                      ("command", "collection"), registry=REGISTRY)  # fmt: skip
SLOW_QUERIES = Counter("vibetuner_db_slow_queries_total",
                       "MongoDB commands slower than DB_SLOW_QUERY_MS.",
                       ("command", "collection"), registry=REGISTRY)  # fmt: skip
POOL_WAIT = _buckets("vibetuner_db_pool_wait_seconds",
                     "Time to check a connection out of the pool.", ())  # fmt: skip
POOL_FAILURES = Counter("vibetuner_db_pool_checkout_failures_total",
                        "Connection checkouts that failed (timeout, connectionError...).",
                        ("reason",), registry=REGISTRY)  # fmt: skip
POOL_CLEARED = Counter("vibetuner_db_pool_cleared_total",
                       "Pools emptied after a network error or a failover.",
                       ("server",), registry=REGISTRY)  # fmt: skip
POOL_MAX = _gauge("vibetuner_db_pool_max_connections", "maxPoolSize, summed over workers.",
                  ("server",), "livesum")  # fmt: skip
POOL_OPEN = _gauge("vibetuner_db_pool_connections", "Open pooled connections.",
                   ("server",), "livesum")  # fmt: skip
POOL_IN_USE = _gauge("vibetuner_db_pool_checked_out_connections",
                     "Pooled connections in use.", ("server",), "livesum")  # fmt: skip
HEARTBEATS = Counter("vibetuner_db_heartbeats_total", "Server heartbeats by outcome.",
                     ("server", "outcome"), registry=REGISTRY)  # fmt: skip
HEARTBEAT_SECONDS = _buckets("vibetuner_db_heartbeat_seconds",
                             "Round trip of polled heartbeats (streamed ones wait by design).",
                             ("server",))  # fmt: skip
SERVER_RTT = _gauge("vibetuner_db_server_rtt_seconds", "The driver's average round trip.",
                    ("server",), "livemax")  # fmt: skip
REPLICA_LAG = _gauge("vibetuner_db_replica_lag_seconds",
                     "How far a member's last write trails the primary's (0 on the primary).",
                     ("server",), "livemax")  # fmt: skip
DB_STATS = {
    key: _gauge(f"vibetuner_db_{name}", doc, ("database",), "livemostrecent")
    for key, name, doc in (
        ("dataSize", "data_bytes", "Uncompressed size of the documents (dbStats)."),
        ("storageSize", "storage_bytes", "Space allocated to documents on disk (dbStats)."),
        ("indexSize", "index_bytes", "Space allocated to indexes on disk (dbStats)."),
        ("objects", "objects", "Documents in the database (dbStats)."),
        ("collections", "collections", "Collections in the database (dbStats)."),
        ("fsUsedSize", "fs_used_bytes", "Used space of the server's data volume (dbStats)."),
        ("fsTotalSize", "fs_total_bytes", "Size of the server's data volume (dbStats)."),
    )
}


class Series:
    """The children of one (command, collection) pair, looked up once."""

    __slots__ = ("collection", "command", "errors", "seconds", "slow")

    def __init__(self, command: str, collection: str) -> None:
        self.command, self.collection = command, collection
        self.seconds = CALL_SECONDS.labels(command, collection)
        self.errors = CALL_ERRORS.labels(command, collection)
        self.slow = SLOW_QUERIES.labels(command, collection)


class CommandMetrics(monitoring.CommandListener):
    """Latency by command and collection from the driver's own timings; slow ones logged.

    The collection is only in the started event, so it is kept by request id until the
    command finishes.
    """

    def __init__(self, slow_query_ms: float = 0.0) -> None:
        self.slow_s = slow_query_ms / 1000 if slow_query_ms > 0 else math.inf
        self.pending: dict[int, tuple[Series, str]] = {}
        self.series: dict[tuple[str, str], Series] = {}

    def _series(self, command: str, collection: str) -> Series:
        found = self.series.get((command, collection))
        if found is None:
            found = self.series[(command, collection)] = Series(command, collection)
        return found

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get("collection" if name == "getMore" else name)
        if not isinstance(target, str):
            target, label = "", NO_COLLECTION
        else:
            label = target if target in _known_collections else OTHER
        pending = self.pending
        if len(pending) >= PENDING_LIMIT:
            pending.clear()
        command = name if name in KNOWN_COMMANDS else OTHER
        pending[event.request_id] = (self._series(command, label), target)

    def _finished(self, event: Finished) -> Series:
        found = self.pending.pop(event.request_id, None)
        series, target = found if found is not None else (self._unseen(event), "")
        seconds = event.duration_micros / 1e6
        series.seconds.observe(seconds)
        if seconds >= self.slow_s:
            series.slow.inc()
            logger.warning(
                "slow MongoDB command: %s on %s took %.1f ms", event.command_name,
                target or event.database_name, seconds * 1000,
                extra={"db_command": event.command_name, "db_collection": target,
                       "db_database": event.database_name, "duration_ms": seconds * 1000},
            )  # fmt: skip
        return series

    def _unseen(self, event: Finished) -> Series:
        name = event.command_name
        return self._series(name if name in KNOWN_COMMANDS else OTHER, OTHER)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._finished(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finished(event).errors.inc()


class PoolState:
    """One pool's counts, kept as plain ints and published when sampled."""

    __slots__ = ("checked_out", "max_size", "open")

    def __init__(self, max_size: int) -> None:
        self.max_size, self.open, self.checked_out = max_size, 0, 0


class PoolMetrics(monitoring.ConnectionPoolListener):
    """Open and checked-out connections per server, checkout wait, failures and clears."""

    def __init__(self) -> None:
        self.pools: dict[tuple[str, int | None], PoolState] = {}
        self.closed: set[tuple[str, int | None]] = set()
        self.wait = POOL_WAIT

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        self.pools[event.address] = PoolState(int(event.options.get("maxPoolSize", MAX_POOL_SIZE)))
        self.closed.discard(event.address)

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        POOL_CLEARED.labels(server_label(event.address)).inc()

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        if self.pools.pop(event.address, None) is not None:
            self.closed.add(event.address)

    # Events of a pool already closed (connections checked in after it) are not counted.
    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        state = self.pools.get(event.address)
        if state is not None:
            state.open += 1

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        pass

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        state = self.pools.get(event.address)
        if state is not None:
            state.open -= 1

    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None:
        pass

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        POOL_FAILURES.labels(event.reason).inc()
        if event.duration is not None:
            self.wait.observe(event.duration)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        state = self.pools.get(event.address)
        if state is not None:
            state.checked_out += 1
        if event.duration is not None:
            self.wait.observe(event.duration)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        state = self.pools.get(event.address)
        if state is not None:
            state.checked_out -= 1

    def publish(self) -> None:
        for address in self.closed:
            server = server_label(address)
            for gauge in (POOL_MAX, POOL_OPEN, POOL_IN_USE):
                gauge.labels(server).set(0)
        self.closed.clear()
        for address, state in list(self.pools.items()):
            server = server_label(address)
            POOL_MAX.labels(server).set(state.max_size)
            POOL_OPEN.labels(server).set(max(0, state.open))
            POOL_IN_USE.labels(server).set(max(0, state.checked_out))


class HeartbeatMetrics(monitoring.ServerHeartbeatListener):
    """Heartbeats by outcome; the round trip of polled ones (streamed ones wait on purpose)."""

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        server = server_label(event.connection_id)
        HEARTBEATS.labels(server, "ok").inc()
        if not event.awaited:
            HEARTBEAT_SECONDS.labels(server).observe(event.duration)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        HEARTBEATS.labels(server_label(event.connection_id), "failed").inc()


_servers: dict[tuple[str, int | None], str] = {}


def server_label(address: tuple[str, int | None]) -> str:
    """`host:port`; past LABEL_LIMIT servers (never, in a replica set) "other"."""
    label = _servers.get(address)
    if label is None:
        label = f"{address[0]}:{address[1]}" if len(_servers) < LABEL_LIMIT else OTHER
        _servers[address] = label
    return label


class MongoMetrics:
    """The listeners one client gets, and what they hold between samples."""

    def __init__(self, slow_query_ms: float = 0.0) -> None:
        self.commands = CommandMetrics(slow_query_ms)
        self.pool = PoolMetrics()
        self.heartbeats = HeartbeatMetrics()
        self._client: Callable[[], AsyncMongoClient[Any] | None] = lambda: None

    def listeners(self) -> list[Listener]:
        return [self.commands, self.pool, self.heartbeats]

    def watch(self, client: AsyncMongoClient[Any]) -> None:
        """Read this client's topology (round trips, replication lag) when publishing."""
        self._client = weakref.ref(client)

    def publish(self) -> None:
        """Copy the pool counts into their gauges; read round trips and lag."""
        self.pool.publish()
        client = self._client()
        if client is None:
            return
        servers = client.topology_description.server_descriptions()
        for address, lag in replica_lag(servers).items():
            REPLICA_LAG.labels(server_label(address)).set(lag)
        for address, description in servers.items():
            if description.round_trip_time is not None:
                SERVER_RTT.labels(server_label(address)).set(description.round_trip_time)


def replica_lag(
    servers: Mapping[tuple[str, int | None], ServerDescription],
) -> dict[tuple[str, int | None], float]:
    """Seconds each replica-set member's data trails the primary's, as the driver's
    max-staleness rule measures it: each member's last write, corrected by when it was last
    heard from. Without a primary, against the freshest member. Members that report no last
    write (standalone servers, mongos) have no lag to report."""
    members = {
        address: (d.last_write_date, d.last_update_time, d.server_type == SERVER_TYPE.RSPrimary)
        for address, d in servers.items()
        if d.last_write_date is not None
        and d.server_type in (SERVER_TYPE.RSPrimary, SERVER_TYPE.RSSecondary)
    }
    primary = next((m for m in members.values() if m[2]), None)
    if primary is not None:
        # (heard - written) of a member, minus the primary's: both clocks cancel out.
        reference = primary[1] - primary[0]
        return {a: max(0.0, (heard - written) - reference)
                for a, (written, heard, _) in members.items()}  # fmt: skip
    newest = max((written for written, _, _ in members.values()), default=0.0)
    return {a: max(0.0, newest - written) for a, (written, _, _) in members.items()}


_current: MongoMetrics | None = None


def mongo_metrics(slow_query_ms: float = 0.0) -> MongoMetrics:
    """Listeners for the process's client; `publish_mongo` samples the newest ones."""
    global _current
    _current = MongoMetrics(slow_query_ms)
    return _current


def publish_mongo() -> None:
    if _current is not None:
        _current.publish()


async def sample_db_stats(read: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    """One dbStats sample into the size gauges; a failure is logged, the old values stay."""
    try:
        stats = await read()
    except Exception:
        logger.warning("dbStats failed; the database size gauges keep their last values",
                       exc_info=True)  # fmt: skip
        return
    database = str(stats.get("db", ""))
    for key, gauge in DB_STATS.items():
        value = stats.get(key)
        if isinstance(value, int | float):
            gauge.labels(database).set(float(value))
