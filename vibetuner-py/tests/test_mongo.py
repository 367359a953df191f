"""init_db against a real MongoDB-wire server (SecantusDB, started by the fixture)."""

import asyncio
import threading
from typing import ClassVar

import pymongo
import pytest
from beanie import Document

from vibetuner.data import _mongo
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import DatabaseUnavailable
from vibetuner.server._net import free_port


class Widget(Document):
    sku: str
    name: str

    class Settings:
        name = "widgets"
        indexes: ClassVar = [pymongo.IndexModel([("sku", pymongo.ASCENDING)], unique=True)]


async def test_init_db_registers_models_and_creates_indexes(
    vibetuner_mongo: EmbeddedMongo,
) -> None:
    url = f"{vibetuner_mongo.url}_mongo_test"
    await _mongo.init_db([Widget], url=url)
    try:
        await Widget(sku="a-1", name="first").insert()
        found = await Widget.find_one(Widget.sku == "a-1")
        assert found is not None and found.name == "first"
        indexes = await _mongo.get_client()[mongo_db(url)]["widgets"].index_information()
        assert any(info.get("unique") for info in indexes.values())
        assert await _mongo.ping()
    finally:
        await _mongo.close_db()
    assert not await _mongo.ping()


def mongo_db(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def test_unreachable_database_names_database_url() -> None:
    url = f"mongodb://127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DatabaseUnavailable) as info:
        await _mongo.init_db([Widget], url=url, timeout_ms=300)
    assert "Cannot reach MongoDB" in info.value.message
    assert info.value.fix is not None and "DATABASE_URL=" in info.value.fix


async def test_invalid_url_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailable, match="not a valid MongoDB URL"):
        await _mongo.init_db([], url="http://not-mongo")


async def test_password_is_hidden_in_messages() -> None:
    url = f"mongodb://admin:hunter2@127.0.0.1:{free_port()}/x"
    with pytest.raises(DatabaseUnavailable) as info:
        await _mongo.init_db([], url=url, timeout_ms=200)
    assert "hunter2" not in str(info.value)
    assert "admin:***@" in str(info.value)


def test_client_before_init_says_what_to_do() -> None:
    with pytest.raises(DatabaseUnavailable, match="init_db"):
        _mongo.get_client()


class _StallingProxy:
    """Forwards to a real server until a client sends `marker`, then stops answering that
    connection: a MongoDB that accepts, shakes hands and then hangs."""

    def __init__(self, target: int, marker: bytes) -> None:
        self.target, self.marker, self.port = target, marker, free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(
            self._pipe(reader, upstream_writer, watch=True),
            self._pipe(upstream_reader, writer, watch=False),
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, watch: bool
    ) -> None:
        while data := await reader.read(65536):
            if watch and self.marker in data:
                await asyncio.Event().wait()  # never forwarded, never answered
            writer.write(data)
            await writer.drain()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_a_server_that_stops_answering_is_an_error_not_a_hang(
    vibetuner_mongo: EmbeddedMongo,
) -> None:
    """`doctor`, `run prod` and `db indexes` check the database first: a server that
    connects and then never answers fails that check within its timeout."""
    proxy = _StallingProxy(vibetuner_mongo.port, b"listCollections")
    outcome: list[BaseException | None] = []

    def check() -> None:
        try:
            _mongo.check_reachable(
                f"mongodb://127.0.0.1:{proxy.port}/app?directConnection=true", timeout_ms=1000
            )
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(60)  # a liveness bound: the check itself gives up after about a second
    proxy.close()
    assert outcome, "the check still waits for a server that will never answer"
    assert isinstance(outcome[0], DatabaseUnavailable)
