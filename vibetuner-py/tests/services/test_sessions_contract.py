"""One contract, three session stores: memory, and Redis and MongoDB against real servers."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient

from tests.conftest import RedisServer
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.services.sessions import (
    MemorySessionStore,
    MongoSessionStore,
    RedisSessionStore,
    SessionRecord,
    SessionStore,
    new_session_id,
    utcnow,
)


@pytest.fixture(params=["memory", "redis", "mongo"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore()
    elif request.param == "redis":
        from vibetuner.data._redis_clients import close_client, open_client

        server: RedisServer = request.getfixturevalue("redis_server")
        client = open_client(server.url)
        yield RedisSessionStore(client)
        await close_client(client)
    else:
        mongo: EmbeddedMongo = request.getfixturevalue("vibetuner_mongo")
        client_m: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo.url)
        collection = client_m["sessions_contract"][f"sessions_{new_session_id()[:8]}"]
        yield MongoSessionStore(collection)  # type: ignore[arg-type]
        await collection.drop()
        await client_m.close()


def _record(user_id: str | None = None, seconds: int = 60, **data: object) -> SessionRecord:
    record = SessionRecord(id=new_session_id(), data=dict(data), user_id=user_id)
    record.touch(seconds)
    return record


def test_ids_are_long_and_random() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) >= 43 for i in ids)


async def test_save_then_load_round_trips(store: SessionStore) -> None:
    record = _record("u1", csrf="t0k", cart=[1, 2])
    record.ip, record.user_agent = "10.0.0.1", "Firefox"
    await store.create(record)
    loaded = await store.load(record.id)
    assert loaded is not None
    assert loaded.data == {"csrf": "t0k", "cart": [1, 2]}
    assert (loaded.user_id, loaded.ip, loaded.user_agent) == ("u1", "10.0.0.1", "Firefox")
    assert abs((loaded.expires_at - record.expires_at).total_seconds()) < 1


async def test_unknown_id_is_none(store: SessionStore) -> None:
    assert await store.load(new_session_id()) is None
    assert await store.load("") is None


async def test_expired_record_is_gone(store: SessionStore) -> None:
    record = _record()
    record.expires_at = utcnow() + timedelta(seconds=1)
    await store.create(record)
    deadline = time.monotonic() + 5
    while await store.load(record.id) is not None:
        assert time.monotonic() < deadline, "the record outlived its expiry"
        await asyncio.sleep(0.05)
    assert not await store.update(record), "an expired record is not brought back"
    assert await store.load(record.id) is None


async def test_an_update_past_the_expiry_never_brings_the_record_back(
    store: SessionStore,
) -> None:
    """The stored record's expiry decides, to the millisecond: a whole-second TTL rounded up
    would keep the key alive for up to a second after the record expired."""
    record = _record()
    record.expires_at = utcnow() + timedelta(seconds=1.5)
    await store.create(record)
    deadline = time.monotonic() + 5
    while await store.load(record.id) is not None:
        assert time.monotonic() < deadline, "the record outlived its expiry"
        await asyncio.sleep(0.01)
    record.expires_at = utcnow() + timedelta(seconds=60)  # a request that would extend it
    assert not await store.update(record), "an expired record is not brought back"
    assert await store.load(record.id) is None


async def test_update_replaces(store: SessionStore) -> None:
    record = _record(step=1)
    await store.create(record)
    record.data["step"] = 2
    assert await store.update(record)
    loaded = await store.load(record.id)
    assert loaded is not None and loaded.data["step"] == 2


async def test_an_update_over_a_version_another_moved_on_is_refused(
    store: SessionStore,
) -> None:
    """Two requests read version n; the first to write wins, the second writes nothing."""
    record = _record(step=1)
    await store.create(record)
    first, second = await store.load(record.id), await store.load(record.id)
    assert first is not None and second is not None and first.version == second.version
    first.data["a"] = 1
    assert await store.update(first)
    assert first.version == second.version + 1
    second.data["b"] = 2
    assert not await store.update(second), "written over a version it never read"
    loaded = await store.load(record.id)
    assert loaded is not None and loaded.data == {"step": 1, "a": 1}
    assert loaded.version == first.version
    second.version = loaded.version
    assert await store.update(second), "read again, it writes"


async def test_an_update_never_recreates_a_deleted_record(store: SessionStore) -> None:
    record = _record("carol")
    await store.create(record)
    await store.delete(record.id)
    assert not await store.update(record)
    assert await store.load(record.id) is None
    unknown = _record("carol")
    assert not await store.update(unknown), "update is not an upsert"
    assert await store.load(unknown.id) is None
    assert await store.list_for_user("carol") == []


async def test_signing_out_everywhere_refuses_sign_ins_that_read_the_user_before(
    store: SessionStore,
) -> None:
    assert await store.generation("dave") == 0
    before = _record("dave")
    before.generation = await store.generation("dave")
    signed_in = _record("dave")
    assert await store.create(signed_in)
    assert await store.delete_for_user("dave") == 1
    assert await store.generation("dave") == 1
    assert not await store.update(signed_in)
    assert not await store.create(before), "a sign-in that started before stays out"
    assert await store.load(before.id) is None
    after = _record("dave")
    after.generation = await store.generation("dave")
    assert await store.create(after)
    assert [r.id for r in await store.list_for_user("dave")] == [after.id]


async def test_delete(store: SessionStore) -> None:
    record = _record("u2")
    await store.create(record)
    await store.delete(record.id)
    await store.delete(record.id)
    assert await store.load(record.id) is None
    assert await store.list_for_user("u2") == []


async def test_list_and_delete_for_user(store: SessionStore) -> None:
    mine = [_record("alice"), _record("alice"), _record("alice")]
    other = _record("bob")
    anonymous = _record(None)
    for record in [*mine, other, anonymous]:
        await store.create(record)
    listed = await store.list_for_user("alice")
    assert {r.id for r in listed} == {r.id for r in mine}
    assert [r.created_at for r in listed] == sorted((r.created_at for r in listed), reverse=True)
    assert await store.delete_for_user("alice") == 3
    for record in mine:
        assert await store.load(record.id) is None
    assert await store.load(other.id) is not None
    assert await store.load(anonymous.id) is not None
    assert await store.list_for_user("alice") == []


async def test_records_are_isolated_copies(store: SessionStore) -> None:
    record = _record(n=1)
    await store.create(record)
    record.data["n"] = 99
    loaded = await store.load(record.id)
    assert loaded is not None and loaded.data["n"] == 1


async def test_count_is_the_live_sessions(store: SessionStore) -> None:
    before = await store.count()
    live = [_record("u-count"), _record(None), _record("u-count-2")]
    for record in live:
        await store.create(record)
    short = _record("u-count-3")
    short.expires_at = utcnow() + timedelta(seconds=1)
    await store.create(short)
    assert await store.count() == before + 4
    await store.delete(live[1].id)
    deadline = time.monotonic() + 5
    while await store.count() != before + 2:  # one deleted, one expired
        assert time.monotonic() < deadline, "count kept a deleted or expired session"
        await asyncio.sleep(0.05)


async def test_a_record_saved_before_versions_existed_still_updates(
    store: SessionStore,
) -> None:
    """Sessions written by the previous release carry no version: they count as 0."""
    record = _record(step=1)
    await store.create(record)
    if isinstance(store, MongoSessionStore):
        await store.collection.update_one({"_id": record.id}, {"$unset": {"version": ""}})
    elif isinstance(store, RedisSessionStore):
        key = store.session_prefix + record.id
        raw = json.loads(await store.redis.get(key) or b"{}")
        del raw["version"]
        await store.redis.set(key, json.dumps(raw), keepttl=True)
    loaded = await store.load(record.id)
    assert loaded is not None and loaded.version == 0
    loaded.data["step"] = 2
    assert await store.update(loaded)
    again = await store.load(record.id)
    assert again is not None and again.data["step"] == 2 and again.version == 1
