"""In-process session store for unit tests: nothing shared between processes."""

from __future__ import annotations

import copy
from collections import Counter

from vibetuner.services.sessions._base import SessionRecord, SessionStore


class MemorySessionStore(SessionStore):
    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._generations: Counter[str] = Counter()

    async def load(self, session_id: str) -> SessionRecord | None:
        record = self._records.get(session_id)
        if record is None or record.expired:
            self._records.pop(session_id, None)
            return None
        return copy.deepcopy(record)

    async def create(self, record: SessionRecord) -> bool:
        if record.user_id and self._generations[record.user_id] != record.generation:
            return False
        self._records[record.id] = copy.deepcopy(record)
        return True

    async def update(self, record: SessionRecord) -> bool:
        current = self._records.get(record.id)
        if current is None or current.expired or current.version != record.version:
            return False
        record.version += 1
        self._records[record.id] = copy.deepcopy(record)
        return True

    async def delete(self, session_id: str) -> None:
        self._records.pop(session_id, None)

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        live = [
            copy.deepcopy(r)
            for r in self._records.values()
            if r.user_id == user_id and not r.expired
        ]
        return sorted(live, key=lambda r: r.created_at, reverse=True)

    async def generation(self, user_id: str) -> int:
        return self._generations[user_id]

    async def delete_for_user(self, user_id: str) -> int:
        self._generations[user_id] += 1
        doomed = [sid for sid, r in self._records.items() if r.user_id == user_id]
        for sid in doomed:
            del self._records[sid]
        return len(doomed)

    async def count(self) -> int:
        return sum(1 for record in self._records.values() if not record.expired)
