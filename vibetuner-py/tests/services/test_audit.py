"""The audit log's diff and its stored entries, on the embedded database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from beanie import PydanticObjectId

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.data.models.audit import AuditEntry
from vibetuner.services.audit import diff, record


def test_diff_names_only_changed_fields() -> None:
    before = {"name": "Ada", "roles": ["user"], "active": True}
    after = {"name": "Ada", "roles": ["user", "admin"], "email": "ada@example.com"}
    assert diff(before, after) == {
        "active": {"before": True, "after": None},
        "email": {"before": None, "after": "ada@example.com"},
        "roles": {"before": ["user"], "after": ["user", "admin"]},
    }
    assert diff(None, {"a": 1}) == {"a": {"before": None, "after": 1}}
    assert diff({"a": 1}, {"a": 1}) == {}


@pytest.fixture
async def database(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> AsyncIterator[None]:
    from vibetuner.data import _mongo

    settings_env.setenv("DATABASE_URL", vibetuner_mongo.url)
    await _mongo.init_db([])
    yield
    await _mongo.close_db()


async def test_record_stores_who_what_and_the_diff(database: None) -> None:
    actor = PydanticObjectId()
    entry = await record(
        "admin.update", actor_id=str(actor), actor_email="root@example.com", target="posts",
        target_id="p1", before={"title": "old"}, after={"title": "new"}, request_id="r1",
    )  # fmt: skip
    stored = await AuditEntry.get(entry.id)
    assert stored is not None
    assert (stored.actor_id, stored.action, stored.target, stored.target_id) == (
        actor,
        "admin.update",
        "posts",
        "p1",
    )
    assert stored.changes == {"title": {"before": "old", "after": "new"}}
    assert abs((datetime.now(UTC) - stored.at.replace(tzinfo=UTC)).total_seconds()) < 60
