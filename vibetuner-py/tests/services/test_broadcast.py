"""One contract, two broadcasters: in-process memory, and Redis against a real server."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import RedisServer
from vibetuner.services.broadcast import (
    Broadcaster,
    Event,
    MemoryBroadcaster,
    RedisBroadcaster,
    Subscription,
    broadcast,
    close_broadcaster,
    get_broadcaster,
    set_broadcaster,
)


@pytest.fixture(params=["memory", "redis"])
async def broadcaster(request: pytest.FixtureRequest) -> AsyncIterator[Broadcaster]:
    if request.param == "memory":
        yield MemoryBroadcaster(replay_size=3)
        return
    from vibetuner.data._redis_clients import close_client, open_client

    server: RedisServer = request.getfixturevalue("redis_server")
    client = open_client(server.url)
    redis_broadcaster = RedisBroadcaster(client, replay_size=3)
    yield redis_broadcaster
    await redis_broadcaster.aclose()
    await close_client(client)


async def _next(sub: Subscription) -> Event:
    event = await sub.next(within=5)
    assert event is not None, "no event arrived"
    return event


async def test_every_subscriber_gets_each_event(broadcaster: Broadcaster) -> None:
    async with (
        broadcaster.subscribe("news") as a,
        broadcaster.subscribe("news") as b,
        broadcaster.subscribe("other") as other,
    ):
        sent = await broadcaster.publish("news", "<p>hi</p>\nsecond line", event="post")
        for sub in (a, b):
            got = await _next(sub)
            assert got == sent
            assert got.data == "<p>hi</p>\nsecond line" and got.event == "post"
        assert await other.next(within=0.2) is None


async def test_events_keep_their_order(broadcaster: Broadcaster) -> None:
    async with broadcaster.subscribe("order") as sub:
        sent = [await broadcaster.publish("order", str(i)) for i in range(5)]
        assert [await _next(sub) for _ in range(5)] == sent


async def test_replay_returns_what_came_after_an_id(broadcaster: Broadcaster) -> None:
    sent = [await broadcaster.publish("log", f"e{i}") for i in range(3)]
    replayed = await broadcaster.replay("log", sent[0].id)
    assert [e.data for e in replayed] == ["e1", "e2"]
    assert [e.id for e in replayed] == [sent[1].id, sent[2].id]
    assert await broadcaster.replay("log", sent[2].id) == []


async def test_replay_buffer_is_bounded(broadcaster: Broadcaster) -> None:
    first = await broadcaster.publish("busy", "first")
    for i in range(5):
        await broadcaster.publish("busy", f"n{i}")
    assert [e.data for e in await broadcaster.replay("busy", first.id)] == ["n2", "n3", "n4"]


async def test_unknown_last_event_ids_replay_nothing(broadcaster: Broadcaster) -> None:
    await broadcaster.publish("log2", "x")
    for bad in ("", "abc", "1-2-3", "\n"):
        assert await broadcaster.replay("log2", bad) == []


async def test_leaving_closes_the_subscription(broadcaster: Broadcaster) -> None:
    async with broadcaster.subscribe("news"):
        assert broadcaster.subscribers("news") == 1
    assert broadcaster.subscribers() == 0


async def test_slow_subscribers_lose_the_oldest_events() -> None:
    sub = Subscription("c", maxsize=2)
    for i in range(3):
        sub.push(Event(id=str(i), data=str(i)))
    assert [(await sub.next(within=0)) for _ in range(2)] == [
        Event(id="1", data="1"),
        Event(id="2", data="2"),
    ]


async def test_redis_reaches_other_instances_and_unsubscribes(redis_server: RedisServer) -> None:
    from vibetuner.data._redis_clients import close_client, open_client

    clients = [open_client(redis_server.url) for _ in range(3)]
    web1, web2, worker = (RedisBroadcaster(c) for c in clients)
    try:
        async with web1.subscribe("feed") as s1, web2.subscribe("feed") as s2:
            sent = await worker.publish("feed", "<li>new</li>")
            assert await _next(s1) == sent == await _next(s2)
            assert await clients[2].pubsub_numsub("vibetuner:broadcast:events") == {
                b"vibetuner:broadcast:events": 2
            }
            assert await web2.replay("feed", "0-0") == [sent]
        assert await clients[2].pubsub_numsub("vibetuner:broadcast:events") == {
            b"vibetuner:broadcast:events": 0
        }
    finally:
        for b in (web1, web2, worker):
            await b.aclose()
        for c in clients:
            await close_client(c)


async def test_broadcast_falls_back_to_memory_without_redis(
    settings_env: pytest.MonkeyPatch,
) -> None:
    set_broadcaster(None)
    try:
        backend = get_broadcaster()
        assert isinstance(backend, MemoryBroadcaster)
        async with backend.subscribe("posts") as sub:
            await broadcast("posts", {"count": 2}, event="stats")
            got = await _next(sub)
            assert (got.data, got.event) == ('{"count":2}', "stats")
    finally:
        set_broadcaster(None)


async def test_broadcast_uses_redis_with_redis_url(
    settings_env: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    from vibetuner.data._redis import close_redis

    settings_env.setenv("REDIS_URL", redis_server.url)
    settings_env.setenv("SSE_REPLAY_BUFFER", "7")
    set_broadcaster(None)
    try:
        backend = get_broadcaster()
        assert isinstance(backend, RedisBroadcaster)
        async with backend.subscribe("posts") as sub:
            sent = await broadcast("posts", "<li>x</li>")
            assert await _next(sub) == sent
        assert backend.subscribers() == 0
    finally:
        await close_broadcaster()
        await close_redis()


@pytest.mark.parametrize("name", ["", "two\nlines", "cr\r"])
async def test_event_names_are_one_line(name: str) -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        await broadcast("c", "x", event=name)


async def test_redis_listener_failure_is_raised_on_subscribe() -> None:
    from vibetuner.data._redis_clients import close_client, open_client
    from vibetuner.server._net import free_port

    client = open_client(f"redis://127.0.0.1:{free_port()}/0")
    broken = RedisBroadcaster(client)
    try:
        with pytest.raises(Exception, match=r"(?i)connect"):
            async with broken.subscribe("x"):
                pass
        assert broken.subscribers() == 0
    finally:
        await close_client(client)
        await asyncio.sleep(0)
