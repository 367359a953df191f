"""In-process session store for unit tests: nothing shared between processes."""

from __future__ import annotations

import copy

from vibetuner.services.sessions._base import SessionRecord, SessionStore


class MemorySessionStore(SessionStore):
    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}

    async def load(self, session_id: str) -> SessionRecord | None:
        record = self._records.get(session_id)
        if record is None or record.expired:
            self._records.pop(session_id, None)
            return None
        return copy.deepcopy(record)

    async def save(self, record: SessionRecord) -> None:
        self._records[record.id] = copy.deepcopy(record)

    async def delete(self, session_id: str) -> None:
        self._records.pop(session_id, None)

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        live = [
            copy.deepcopy(r)
            for r in self._records.values()
            if r.user_id == user_id and not r.expired
        ]
        return sorted(live, key=lambda r: r.created_at, reverse=True)

    async def delete_for_user(self, user_id: str) -> int:
        doomed = [sid for sid, r in self._records.items() if r.user_id == user_id]
        for sid in doomed:
            del self._records[sid]
        return len(doomed)
