"""Seeding and snapshots for the backup tests: mixed BSON types, indexes, and exact comparison."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from vibetuner.data._embedded import EmbeddedMongo

RAW = CodecOptions(document_class=RawBSONDocument)
BATCH = 5000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _user(n: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "email": f"user{n}@example.com",
        "created": EPOCH + timedelta(minutes=n),
        "balance": Decimal128(Decimal(n) / 100),
        "visits": Int64(n * 1_000_003),
        "score": n / 7,
        "avatar": Binary(n.to_bytes(4, "big") * 8),  # subtype 0
        "token": Binary(uuid.UUID(int=n).bytes, 4),
        "profile": {"name": f"User {n}", "tags": ["a", n % 5, {"deep": [None, True]}]},
        "active": n % 3 != 0,
        "deleted_at": None,
    }


def _event(n: int) -> dict[str, Any]:
    return {
        "_id": n,  # integer ids
        "kind": ("signup", "login", "purchase")[n % 3],
        "at": EPOCH + timedelta(seconds=n),
        "amount": Decimal128(f"{n}.{n % 100:02d}"),
        "payload": {"n": n, "list": list(range(n % 4)), "nested": {"at": EPOCH}},
    }


def _place(n: int) -> dict[str, Any]:
    return {"_id": n, "where": {"type": "Point", "coordinates": [n % 180 - 90.0, n % 90 - 45.0]}}


def _note(n: int) -> dict[str, Any]:
    ids: list[Any] = [f"note-{n}", ObjectId(), Int64(n), {"composite": n}]
    return {
        "_id": ids[n % 4],
        "pattern": Regex(f"^n{n}", "i"),
        "ts": Timestamp(1_700_000_000 + n, 1),
        "low": MinKey(),
        "high": MaxKey(),
        "script": Code("function () { return 1; }"),
        "text": f"ünïcødé {n} ✓",
        "empty": {},
        "nan": Decimal128("NaN"),
        "big": Int64(2**62 + n),
    }


@dataclass(frozen=True)
class Seeded:
    documents: int
    collections: list[str]


async def _insert(
    db: AsyncDatabase[dict[str, Any]], name: str, docs: Iterator[dict[str, Any]]
) -> int:
    count = 0
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= BATCH:
            await db[name].insert_many(batch)
            count += len(batch)
            batch = []
    if batch:
        await db[name].insert_many(batch)
        count += len(batch)
    return count


async def seed(db: AsyncDatabase[dict[str, Any]], *, users: int, events: int, notes: int) -> Seeded:
    """Several collections with mixed types, indexes of every common kind, a view, a validator.

    Indexes are built after the inserts, which is faster on SecantusDB. Its index builds,
    renames and drops cost time per document, so the large collections carry few indexes and
    the kinds of index (sparse, partial, TTL, 2dsphere) sit on the small ones.
    """
    await db.create_collection(
        "validated", validator={"$jsonSchema": {"bsonType": "object", "required": ["name"]}}
    )
    await db.validated.insert_one({"name": "kept", "when": EPOCH})
    await db.create_collection("empty")
    await db.empty.create_index([("later", 1)], name="later_1", unique=True)
    total = await _insert(db, "users", (_user(n) for n in range(users)))
    total += await _insert(db, "events", (_event(n) for n in range(events)))
    total += await _insert(db, "notes", (_note(n) for n in range(notes)))
    total += await _insert(db, "places", (_place(n) for n in range(200)))
    await db.users.create_index("email", unique=True)
    await db.users.create_index([("created", -1), ("balance", 1)], name="recent_rich")
    await db.events.create_index([("kind", 1), ("at", -1)])
    await db.notes.create_index("text", sparse=True)
    await db.notes.create_index(
        "big", name="big_positive", partialFilterExpression={"big": {"$gt": 0}}
    )
    await db.notes.create_index("ts", expireAfterSeconds=10 * 365 * 24 * 3600)
    await db.places.create_index([("where", "2dsphere")])
    await db.command({"create": "active_users", "viewOn": "users",
                      "pipeline": [{"$match": {"active": True}}]})  # fmt: skip
    return Seeded(total + 1, ["empty", "events", "notes", "places", "users", "validated"])


async def snapshot(db: AsyncDatabase[dict[str, Any]]) -> dict[str, Any]:
    """Everything a restore must bring back, exactly: raw documents, options, indexes."""
    state: dict[str, Any] = {}
    async for info in await db.list_collections():
        name = str(info["name"])
        entry: dict[str, Any] = {"type": info.get("type"), "options": info.get("options")}
        if info.get("type") == "collection":
            raw = db.get_collection(name, codec_options=RAW)
            documents = await raw.find({}).to_list()
            entry["documents"] = sorted(bytes(doc.raw) for doc in documents)
            indexes = [dict(ix) async for ix in await db[name].list_indexes()]
            entry["indexes"] = sorted(
                ({k: v for k, v in ix.items() if k != "ns"} for ix in indexes),
                key=lambda ix: str(ix["name"]),
            )
        state[name] = entry
    return state


def write_migration(folder: Path, name: str, body: str = "    pass\n") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(f"async def up(db):\n{body}")


async def record_migrations(db: AsyncDatabase[dict[str, Any]], *names: str) -> None:
    for name in names:
        await db.migrations.insert_one({"_id": name, "name": name, "applied_at": EPOCH,
                                        "duration": 0.1})  # fmt: skip


class FailpointServer(EmbeddedMongo):
    """SecantusDB with mongod's test commands on, so `failCommand` can break one command."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            ":memory:",
            log_path=folder / "failpoint-server.log",
            server_args=["--enable-test-commands"],
        )

    def fail(self, command: str, *, skip: int, times: int, app: str) -> None:
        """Fail `command` from clients named `app`: let `skip` through, then fail `times`."""
        with MongoClient(self.url) as client:
            client.admin.command(
                "configureFailPoint", "failCommand", mode={"skip": skip, "times": times},
                data={"failCommands": [command], "errorCode": 2, "appName": app},
            )  # fmt: skip

    def clear(self) -> None:
        with MongoClient(self.url) as client:
            client.admin.command("configureFailPoint", "failCommand", mode="off")


def async_client(url: str, app: str | None = None) -> AsyncMongoClient[dict[str, Any]]:
    options: dict[str, Any] = {"appname": app} if app else {}
    return AsyncMongoClient(url, tz_aware=True, **options)


async def wait_for(predicate: Any, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
