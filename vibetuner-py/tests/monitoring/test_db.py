"""MongoDB monitoring through pymongo's listeners, against the embedded server: commands by
collection with bounded labels, slow queries, the pool, heartbeats and lag, and dbStats."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.hello import Hello
from pymongo.server_description import ServerDescription

from tests.monitoring.conftest import sample
from vibetuner.monitoring import REGISTRY, MongoMetrics, mongo_metrics, sampling, track_collections
from vibetuner.monitoring._db import publish_mongo, replica_lag
from vibetuner.monitoring._scrape import exposition

if TYPE_CHECKING:
    from vibetuner.data._embedded import EmbeddedMongo

CALLS = "vibetuner_db_call_seconds_count"


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


def _client(mongo: EmbeddedMongo, metrics: MongoMetrics, query: str = "") -> AsyncMongoClient[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        f"{mongo.url}{query}", event_listeners=metrics.listeners()
    )
    metrics.watch(client)
    return client


@pytest.fixture
async def metrics(vibetuner_mongo: EmbeddedMongo) -> AsyncIterator[MongoMetrics]:
    yield mongo_metrics(slow_query_ms=0)
    mongo_metrics()  # the next test's client starts from fresh listeners


def _labels(name: str, label: str) -> set[str]:
    return {
        s.labels[label]
        for family in REGISTRY.collect()
        for s in family.samples
        if s.name == name and label in s.labels
    }


async def test_commands_are_labelled_by_command_and_known_collection(
    vibetuner_mongo: EmbeddedMongo, metrics: MongoMetrics
) -> None:
    track_collections(["monitored_posts"])
    before = {
        "insert": sample(CALLS, command="insert", collection="monitored_posts"),
        "find": sample(CALLS, command="find", collection="monitored_posts"),
        "other": sample(CALLS, command="insert", collection="other"),
        "ping": sample(CALLS, command="ping", collection="none"),
    }
    client = _client(vibetuner_mongo, metrics)
    try:
        database = client["monitoring_db"]
        await database["monitored_posts"].insert_one({"title": "one"})
        assert await database["monitored_posts"].find_one({}) is not None
        # Collections no model registered: one "other" label, however many there are.
        for n in range(30):
            await database[f"scratch_{n}"].insert_one({"n": n})
        await client.admin.command("ping")
    finally:
        await client.drop_database("monitoring_db")
        await client.close()
    assert sample(CALLS, command="insert", collection="monitored_posts") == before["insert"] + 1
    assert sample(CALLS, command="find", collection="monitored_posts") == before["find"] + 1
    assert sample(CALLS, command="insert", collection="other") == before["other"] + 30
    assert sample(CALLS, command="ping", collection="none") == before["ping"] + 1
    collections = _labels(CALLS, "collection")
    assert not {c for c in collections if c.startswith("scratch_")}, collections
    assert "dropDatabase" in _labels(CALLS, "command")


async def test_slow_commands_are_counted_and_logged(
    vibetuner_mongo: EmbeddedMongo, caplog: pytest.LogCaptureFixture
) -> None:
    track_collections(["slow_things"])
    slow = "vibetuner_db_slow_queries_total"
    before = sample(slow, command="find", collection="slow_things")
    quiet = mongo_metrics(slow_query_ms=0)  # 0: off
    client = _client(vibetuner_mongo, quiet)
    try:
        await client["monitoring_slow"]["slow_things"].find_one({})
    finally:
        await client.close()
    assert sample(slow, command="find", collection="slow_things") == before

    tiny = mongo_metrics(slow_query_ms=0.001)  # every command is slower than a microsecond
    client = _client(vibetuner_mongo, tiny)
    try:
        with caplog.at_level(logging.WARNING, logger="vibetuner.monitoring.db"):
            await client["monitoring_slow"]["slow_things"].find_one({"x": 1})
    finally:
        await client.close()
    assert sample(slow, command="find", collection="slow_things") == before + 1
    lines = [r for r in caplog.records if getattr(r, "db_collection", None) == "slow_things"]
    assert lines, caplog.text
    line = lines[0]
    assert line.getMessage().startswith("slow MongoDB command: find on slow_things took")
    assert (line.db_command, line.db_database) == ("find", "monitoring_slow")  # type: ignore[attr-defined]
    assert line.duration_ms > 0.001  # type: ignore[attr-defined]
    mongo_metrics()


async def test_pool_gauges_and_checkout_wait(
    vibetuner_mongo: EmbeddedMongo, metrics: MongoMetrics
) -> None:
    server = f"{vibetuner_mongo.host}:{vibetuner_mongo.port}"
    waits = sample("vibetuner_db_pool_wait_seconds_count")
    client = _client(vibetuner_mongo, metrics, "?maxPoolSize=7")
    try:
        collection = client["monitoring_pool"]["things"]
        await asyncio.gather(*(collection.find_one({"n": n}) for n in range(20)))
        publish_mongo()
        assert sample("vibetuner_db_pool_max_connections", server=server) == 7
        assert 1 <= sample("vibetuner_db_pool_connections", server=server) <= 7
        assert sample("vibetuner_db_pool_checked_out_connections", server=server) == 0
        assert sample("vibetuner_db_pool_wait_seconds_count") >= waits + 20
        # While commands run, their connections are checked out.
        seen: list[float] = []
        original = metrics.commands.started

        def watch(event: Any) -> None:
            original(event)
            publish_mongo()
            seen.append(sample("vibetuner_db_pool_checked_out_connections", server=server))

        metrics.commands.started = watch  # type: ignore[method-assign]
        await asyncio.gather(*(collection.find_one({"n": n}) for n in range(5)))
        assert max(seen) >= 1
    finally:
        await client.close()
    publish_mongo()
    assert sample("vibetuner_db_pool_connections", server=server) == 0, "a closed pool reads 0"


async def test_heartbeats_round_trip_and_lag_of_the_single_node(
    vibetuner_mongo: EmbeddedMongo, metrics: MongoMetrics
) -> None:
    """The embedded server is a one-member replica set: its own lag reads 0."""
    server = f"{vibetuner_mongo.host}:{vibetuner_mongo.port}"
    beats = sample("vibetuner_db_heartbeats_total", server=server, outcome="ok")
    client = _client(vibetuner_mongo, metrics, "?heartbeatFrequencyMS=500")
    try:
        await client.admin.command("ping")
        await _until(lambda: sample("vibetuner_db_heartbeats_total", server=server,
                                    outcome="ok") >= beats + 2)  # fmt: skip
        publish_mongo()
        rtt = REGISTRY.get_sample_value("vibetuner_db_server_rtt_seconds", {"server": server})
        lag = REGISTRY.get_sample_value("vibetuner_db_replica_lag_seconds", {"server": server})
    finally:
        await client.close()
    assert rtt is not None and 0 < rtt < 1
    assert lag == 0
    assert sample("vibetuner_db_heartbeat_seconds_count", server=server) >= 1, "the first poll"


def test_replica_lag_where_members_report_it() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0)

    def member(port: int, primary: bool, written: datetime) -> ServerDescription:
        hello = Hello({"ok": 1, "setName": "rs0", "isWritablePrimary": primary,
                       "secondary": not primary, "hosts": ["a:1", "b:2", "c:3"],
                       "lastWrite": {"lastWriteDate": written},
                       "minWireVersion": 0, "maxWireVersion": 25})  # fmt: skip
        return ServerDescription(("h", port), hello, round_trip_time=0.001)

    servers = {
        ("h", 1): member(1, True, now),
        ("h", 2): member(2, False, now - timedelta(seconds=5)),
        ("h", 3): member(3, False, now),
    }
    lags = replica_lag(servers)
    assert lags[("h", 1)] == 0
    assert lags[("h", 2)] == pytest.approx(5, abs=0.5)
    assert lags[("h", 3)] == pytest.approx(0, abs=0.5)
    without_primary = replica_lag({a: d for a, d in servers.items() if a != ("h", 1)})
    assert without_primary[("h", 2)] == pytest.approx(5, abs=0.5)
    standalone = ServerDescription(("s", 1), Hello({"ok": 1, "maxWireVersion": 25}))
    assert replica_lag({("s", 1): standalone}) == {}, "no lag where none is reported"


async def test_db_stats_are_sampled_on_an_interval_never_per_scrape(
    vibetuner_mongo: EmbeddedMongo, metrics: MongoMetrics
) -> None:
    client = _client(vibetuner_mongo, metrics)
    database = client["monitoring_stats"]
    await database["things"].insert_many([{"n": n} for n in range(50)])
    reads: list[float] = []

    async def read() -> Mapping[str, Any]:
        reads.append(time.monotonic())
        return await database.command("dbStats")

    def objects() -> float | None:
        return REGISTRY.get_sample_value("vibetuner_db_objects", {"database": "monitoring_stats"})

    try:
        async with sampling(interval=60, db_stats=read, db_stats_interval=0.2):
            await _until(lambda: len(reads) >= 3)
            assert objects() == 50
            data = REGISTRY.get_sample_value(
                "vibetuner_db_data_bytes", {"database": "monitoring_stats"}
            )
            assert data is not None and data > 0
        async with sampling(interval=60, db_stats=read, db_stats_interval=3600):
            await _until(lambda: len(reads) >= 4)  # the first sample, at start
            for _ in range(5):
                assert b'vibetuner_db_objects{database="monitoring_stats"}' in exposition()
            assert len(reads) == 4, "a scrape never runs dbStats"
    finally:
        await client.drop_database("monitoring_stats")
        await client.close()
