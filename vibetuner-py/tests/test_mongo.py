"""init_db against a real MongoDB-wire server (SecantusDB, started by the fixture)."""

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
