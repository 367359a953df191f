"""`db indexes`: make each model's collection carry exactly the indexes the model declares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beanie import Document
    from pymongo.asynchronous.database import AsyncDatabase


@dataclass(frozen=True)
class IndexChanges:
    """What syncing did to one collection."""

    collection: str
    created: list[str]
    dropped: list[str]
    present: list[str]


async def _index_names(db: AsyncDatabase[dict[str, Any]]) -> dict[str, set[str]]:
    return {
        name: set(await db[name].index_information()) for name in await db.list_collection_names()
    }


async def sync_indexes(
    db: AsyncDatabase[dict[str, Any]], models: Sequence[type[Document]], *, drop: bool = False
) -> list[IndexChanges]:
    """Create missing indexes; with `drop`, also remove ones no model declares any more."""
    from beanie import init_beanie  # beanie: kept off the CLI's startup

    before = await _index_names(db)
    await init_beanie(database=db, document_models=list(models), allow_index_dropping=drop)
    after = await _index_names(db)
    changes = []
    for name in sorted({model.get_collection_name() for model in models}):
        old, new = before.get(name, set()), after.get(name, set())
        changes.append(IndexChanges(name, sorted(new - old), sorted(old - new), sorted(new)))
    return changes
