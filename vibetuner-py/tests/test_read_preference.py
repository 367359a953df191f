"""DATABASE_READ_PREFERENCE reaches the driver through `replica_collection`, and queries answer.

The embedded server is a single-node replica set: its one member is the primary, so what the
test can show is the `$readPreference` pymongo sends with each command (seen by a pymongo
command listener, its public monitoring API) and that the primary still answers it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from beanie import Document
from pymongo import monitoring

from vibetuner import replica_collection
from vibetuner.config import get_settings, reset_settings
from vibetuner.data import _mongo
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.data._mongo_connect import read_preference
from vibetuner.exceptions import ConfigError, DatabaseUnavailable


class Report(Document):
    region: str
    total: int

    class Settings:
        name = "reports"


class Seen(monitoring.CommandListener):
    """The `$readPreference` of every command sent to a collection of ours."""

    def __init__(self) -> None:
        self.preferences: dict[str, list[Any]] = {}
        self.database: str | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database:
            preference = event.command.get("$readPreference")
            self.preferences.setdefault(event.command_name, []).append(preference)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Only what was sent matters."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Only what was sent matters."""


SEEN = Seen()
monitoring.register(SEEN)  # pymongo has no unregister: it watches only `SEEN.database`


@pytest.fixture
def use_settings(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield settings_env
    reset_settings()


@pytest.fixture
async def database(
    vibetuner_mongo: EmbeddedMongo, use_settings: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    name = f"replicas_{uuid.uuid4().hex[:8]}"
    SEEN.database, SEEN.preferences = name, {}
    url = f"mongodb://{vibetuner_mongo.host}:{vibetuner_mongo.port}/{name}"
    use_settings.setenv("DATABASE_URL", url)
    reset_settings()
    await _mongo.init_db([Report])
    await Report.insert_many(
        [Report(region="eu", total=3), Report(region="us", total=5), Report(region="eu", total=4)]
    )
    try:
        yield name
    finally:
        SEEN.database = None
        await _mongo.close_db()


def _prefer(monkeypatch: pytest.MonkeyPatch, mode: str, staleness: str | None = None) -> None:
    monkeypatch.setenv("DATABASE_READ_PREFERENCE", mode)
    if staleness is not None:
        monkeypatch.setenv("DATABASE_MAX_STALENESS_SECONDS", staleness)
    reset_settings()


async def test_the_configured_preference_and_staleness_go_with_each_read(
    database: str, use_settings: pytest.MonkeyPatch
) -> None:
    _prefer(use_settings, "secondary_preferred", "120")
    SEEN.preferences = {}
    reports = replica_collection(Report)
    docs = await reports.find({"region": "eu"}).sort("total", 1).to_list()
    assert [Report.model_validate(doc).total for doc in docs] == [3, 4], "the primary answers"
    pipeline = [{"$group": {"_id": "$region", "sum": {"$sum": "$total"}}}, {"$sort": {"_id": 1}}]
    sums = await (await reports.aggregate(pipeline)).to_list()
    assert [(row["_id"], row["sum"]) for row in sums] == [("eu", 7), ("us", 5)]
    assert await reports.count_documents({}) == 3
    wanted = {"mode": "secondaryPreferred", "maxStalenessSeconds": 120}
    assert SEEN.preferences["find"] == [wanted]
    assert SEEN.preferences["aggregate"] == [wanted, wanted]


async def test_a_collection_by_name_reads_the_same_way(
    database: str, use_settings: pytest.MonkeyPatch
) -> None:
    _prefer(use_settings, "nearest")
    SEEN.preferences = {}
    assert await replica_collection("reports").count_documents({"region": "us"}) == 1
    assert SEEN.preferences["aggregate"] == [{"mode": "nearest"}]


async def test_other_queries_stay_on_the_primary(
    database: str, use_settings: pytest.MonkeyPatch
) -> None:
    """Only `replica_collection` reads follow the setting: Beanie's own queries (and so the
    framework's sessions, sign-in and CSRF reads) keep reading what they just wrote."""
    _prefer(use_settings, "secondaryPreferred")
    SEEN.preferences = {}
    assert len(await Report.find(Report.region == "eu").to_list()) == 2
    assert SEEN.preferences["find"] == [None], "pymongo sends no $readPreference for primary"


async def test_primary_by_default(database: str) -> None:
    SEEN.preferences = {}
    assert len(await replica_collection(Report).find({}).to_list()) == 3
    assert SEEN.preferences["find"] == [None]
    assert read_preference().mongos_mode == "primary"


def test_before_init_db_the_helper_says_what_to_do(use_settings: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatabaseUnavailable, match="init_db"):
        replica_collection(Report)


@pytest.mark.parametrize(
    ("mode", "staleness", "problem"),
    [
        ("secondary", "30", "DATABASE_MAX_STALENESS_SECONDS (30) must be at least 90"),
        ("primary", "120", "needs DATABASE_READ_PREFERENCE other than primary"),
        ("tertiary", None, "DATABASE_READ_PREFERENCE (in the environment) should be 'primary'"),
        ("secondary", "-5", "DATABASE_MAX_STALENESS_SECONDS (in the environment) should be"),
    ],
)
def test_a_bad_preference_is_one_config_error(
    use_settings: pytest.MonkeyPatch, mode: str, staleness: str | None, problem: str
) -> None:
    _prefer(use_settings, mode, staleness)
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert problem in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize("staleness", ["90", "-1", ""])
def test_staleness_of_90_or_none_is_accepted(
    use_settings: pytest.MonkeyPatch, staleness: str
) -> None:
    _prefer(use_settings, "SECONDARY", staleness)
    preference = read_preference()
    assert preference.mongos_mode == "secondary"
    assert preference.max_staleness == (90 if staleness == "90" else -1)


def test_the_setting_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("DATABASE_READ_PREFERENCE", "DATABASE_MAX_STALENESS_SECONDS",
                 "replica_collection"):  # fmt: skip
        assert name in readme, name
