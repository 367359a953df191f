"""Sessions in Redis: `session:{id}` holds JSON with an expiry, as the seed lays out.

A set per user (`user_sessions:{user_id}`) indexes their sessions, so "sign out
everywhere" and the active-sessions page need no scan.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from vibetuner.services.sessions._base import SessionRecord, SessionStore, utcnow

if TYPE_CHECKING:
    from coredis import Redis

    from vibetuner.data._redis_clients import CachedReader

SESSION_PREFIX = "session:"
USER_PREFIX = "user_sessions:"


class RedisSessionStore(SessionStore):
    """`cached`, when given, serves `load` (every signed-in request) from this process's
    copy while Redis has not invalidated it; everything else goes through `redis`, and each
    write drops the copy here at once (Redis's invalidation would follow a moment later)."""

    def __init__(
        self, redis: Redis[bytes], *, prefix: str = "", cached: CachedReader | None = None
    ) -> None:
        self.redis = redis
        self.cached = cached
        self.session_prefix = prefix + SESSION_PREFIX
        self.user_prefix = prefix + USER_PREFIX

    async def load(self, session_id: str) -> SessionRecord | None:
        key = self.session_prefix + session_id
        raw = await (self.cached.get(key) if self.cached else self.redis.get(key))
        if raw is None:
            return None
        record = SessionRecord.from_json(session_id, json.loads(raw))
        return None if record.expired else record

    async def save(self, record: SessionRecord) -> None:
        from coredis import PureToken  # coredis loads only in apps that use Redis

        ttl = max(1, math.ceil((record.expires_at - utcnow()).total_seconds()))
        key = self.session_prefix + record.id
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps(record.to_json()), ex=ttl)
            if record.user_id:
                user_key = self.user_prefix + record.user_id
                pipe.sadd(user_key, [record.id])
                pipe.expire(user_key, ttl, PureToken.GT)
                pipe.expire(user_key, ttl, PureToken.NX)
        self._forget(key)

    async def delete(self, session_id: str) -> None:
        key = self.session_prefix + session_id
        raw = await self.redis.get(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete([key])
            if raw is not None:
                user_id = json.loads(raw).get("user_id")
                if user_id:
                    pipe.srem(self.user_prefix + user_id, [session_id])
        self._forget(key)

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        user_key = self.user_prefix + user_id
        ids = sorted(_text(member) for member in await self.redis.smembers(user_key))
        if not ids:
            return []
        values = await self.redis.mget([self.session_prefix + sid for sid in ids])
        live, gone = [], []
        for sid, raw in zip(ids, values, strict=True):
            record = SessionRecord.from_json(sid, json.loads(raw)) if raw else None
            if record is None or record.expired or record.user_id != user_id:
                gone.append(sid)
            else:
                live.append(record)
        if gone:
            await self.redis.srem(user_key, gone)
        return sorted(live, key=lambda r: r.created_at, reverse=True)

    async def delete_for_user(self, user_id: str) -> int:
        user_key = self.user_prefix + user_id
        ids = [_text(member) for member in await self.redis.smembers(user_key)]
        removed = 0
        if ids:
            keys = [self.session_prefix + sid for sid in ids]
            removed = int(await self.redis.delete(keys))
            self._forget(*keys)
        await self.redis.delete([user_key])
        return removed

    def _forget(self, *keys: str) -> None:
        if self.cached is not None:
            self.cached.forget(*keys)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
