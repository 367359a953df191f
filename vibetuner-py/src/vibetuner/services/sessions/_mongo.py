"""Sessions in MongoDB, used when REDIS_URL is unset: a TTL index expires them."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from vibetuner.services.sessions._base import SessionRecord, SessionStore, utcnow

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

COLLECTION = "sessions"


class MongoSessionStore(SessionStore):
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._indexed = False

    async def ensure_indexes(self) -> None:
        """TTL on expires_at (the server sweeps expired records), and a user index."""
        if self._indexed:
            return
        await self.collection.create_index("expires_at", expireAfterSeconds=0)
        await self.collection.create_index([("user_id", 1), ("created_at", -1)])
        self._indexed = True

    async def load(self, session_id: str) -> SessionRecord | None:
        doc = await self.collection.find_one({"_id": session_id, "expires_at": {"$gt": utcnow()}})
        return None if doc is None else _record(doc)

    async def create(self, record: SessionRecord) -> bool:
        await self.ensure_indexes()
        await self.collection.insert_one({"_id": record.id, **_fields(record)})
        if record.user_id and await self.generation(record.user_id) != record.generation:
            await self.delete(record.id)  # signed out everywhere while this sign-in ran
            return False
        return True

    async def update(self, record: SessionRecord) -> bool:
        # A record saved before versions existed has none: it counts as version 0.
        read = record.version or {"$in": [0, None]}
        fields = {**_fields(record), "version": record.version + 1}
        result = await self.collection.update_one(
            {"_id": record.id, "expires_at": {"$gt": utcnow()}, "version": read},
            {"$set": fields},
        )
        if result.matched_count != 1:
            return False
        record.version += 1
        return True

    async def delete(self, session_id: str) -> None:
        await self.collection.delete_one({"_id": session_id})

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        cursor = self.collection.find({"user_id": user_id, "expires_at": {"$gt": utcnow()}}).sort(
            "created_at", -1
        )
        return [_record(doc) async for doc in cursor]

    async def generation(self, user_id: str) -> int:
        doc = await self._generations.find_one({"_id": user_id})
        return int(doc["n"]) if doc else 0

    async def delete_for_user(self, user_id: str) -> int:
        await self._generations.update_one({"_id": user_id}, {"$inc": {"n": 1}}, upsert=True)
        result = await self.collection.delete_many({"user_id": user_id})
        return int(result.deleted_count)

    async def count(self) -> int:
        """Unexpired records (the TTL sweep lags, so filter on expiry)."""
        return int(await self.collection.count_documents({"expires_at": {"$gt": utcnow()}}))

    @property
    def _generations(self) -> AsyncCollection[dict[str, Any]]:
        return self.collection.database[self.collection.name + "_generations"]


def _fields(record: SessionRecord) -> dict[str, Any]:
    return {
        "data": record.data,
        "user_id": record.user_id,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "generation": record.generation,
        "version": record.version,
    }


def _record(doc: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        id=doc["_id"],
        data=dict(doc.get("data") or {}),
        user_id=doc.get("user_id"),
        created_at=_aware(doc["created_at"]),
        expires_at=_aware(doc["expires_at"]),
        ip=doc.get("ip"),
        user_agent=doc.get("user_agent"),
        generation=int(doc.get("generation") or 0),
        version=int(doc.get("version") or 0),
    )


def _aware(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
