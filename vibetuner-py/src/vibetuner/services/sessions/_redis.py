"""Sessions in Redis: `session:{id}` holds JSON with an expiry, as the seed lays out.

A set per user (`user_sessions:{user_id}`) indexes their sessions, so "sign out
everywhere" and the active-sessions page need no scan; `user_generation:{user_id}`
counts those sign-outs (see `SessionStore`). Every load reads Redis: no process keeps a
copy that a revocation would have to reach first, but loads that arrive together share
one MGET.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from vibetuner.services.sessions._base import SessionRecord, SessionStore, utcnow

if TYPE_CHECKING:
    from coredis import Redis
    from coredis.commands import Script

SESSION_PREFIX = "session:"
USER_PREFIX = "user_sessions:"
GENERATION_PREFIX = "user_generation:"
COUNT_CAP = 100_000
"""Counting scans keys: stop here and report the cap rather than stall."""

# KEYS[1]: the session; KEYS[2]: the user's set, if any. ARGV: the record's JSON, when it
# ends (PXAT, ms), the version it was read at, the user set's TTL (s). 1 when written.
_UPDATE = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local version = cjson.decode(stored)['version']
if type(version) ~= 'number' then version = 0 end
if version ~= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
if KEYS[2] then redis.call('EXPIRE', KEYS[2], ARGV[4], 'GT') end
return 1
"""


class RedisSessionStore(SessionStore):
    def __init__(self, redis: Redis[bytes], *, prefix: str = "") -> None:
        from vibetuner.data._redis_clients import BatchedReader  # coredis: apps with Redis

        self.redis = redis
        self.reader = BatchedReader(redis)
        self._update: Script[bytes] = redis.register_script(_UPDATE)
        self.session_prefix = prefix + SESSION_PREFIX
        self.user_prefix = prefix + USER_PREFIX
        self.generation_prefix = prefix + GENERATION_PREFIX

    async def load(self, session_id: str) -> SessionRecord | None:
        raw = await self.reader.get(self.session_prefix + session_id)
        if raw is None:
            return None
        record = SessionRecord.from_json(session_id, json.loads(raw))
        return None if record.expired else record

    async def create(self, record: SessionRecord) -> bool:
        from coredis import PureToken  # coredis loads only in apps that use Redis

        key, value = self.session_prefix + record.id, json.dumps(record.to_json())
        async with self.redis.pipeline(transaction=True) as pipe:
            written = pipe.set(key, value, pxat=_ends(record), condition=PureToken.NX)
            if record.user_id:
                user_key, ttl = self.user_prefix + record.user_id, _ttl(record)
                pipe.sadd(user_key, [record.id])
                pipe.expire(user_key, ttl, PureToken.NX)
                pipe.expire(user_key, ttl, PureToken.GT)
        if not await written:
            return False
        if record.user_id and await self.generation(record.user_id) != record.generation:
            await self.delete(record.id)  # signed out everywhere while this sign-in ran
            return False
        return True

    async def update(self, record: SessionRecord) -> bool:
        keys = [self.session_prefix + record.id]
        if record.user_id:
            keys.append(self.user_prefix + record.user_id)
        value = json.dumps({**record.to_json(), "version": record.version + 1})
        args: list[int | str] = [value, _ends(record), record.version, _ttl(record)]
        if not await self._update(keys=keys, args=args):
            return False
        record.version += 1
        return True

    async def delete(self, session_id: str) -> None:
        key = self.session_prefix + session_id
        raw = await self.redis.get(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete([key])
            if raw is not None:
                user_id = json.loads(raw).get("user_id")
                if user_id:
                    pipe.srem(self.user_prefix + user_id, [session_id])

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

    async def generation(self, user_id: str) -> int:
        return int(await self.redis.get(self.generation_prefix + user_id) or 0)

    async def delete_for_user(self, user_id: str) -> int:
        await self.redis.incr(self.generation_prefix + user_id)
        user_key = self.user_prefix + user_id
        ids = [_text(member) for member in await self.redis.smembers(user_key)]
        removed = 0
        if ids:
            removed = int(await self.redis.delete([self.session_prefix + sid for sid in ids]))
        await self.redis.delete([user_key])
        return removed

    async def count(self) -> int:
        """Session keys, by SCAN (never KEYS), stopping at COUNT_CAP; Redis expires them."""
        count = 0
        async for _ in self.redis.scan_iter(match=self.session_prefix + "*", count=1000):
            count += 1
            if count >= COUNT_CAP:
                break
        return count


def _ttl(record: SessionRecord) -> int:
    return max(1, math.ceil((record.expires_at - utcnow()).total_seconds()))


def _ends(record: SessionRecord) -> int:
    """When the key ends, to the millisecond: a TTL rounded up to whole seconds let an
    update revive a record that had just expired. Redis keeps a key through its PXAT
    millisecond, so it gets the one before: never alive once `load` (which reads the clock
    to the microsecond) calls the record expired."""
    return math.floor(record.expires_at.timestamp() * 1000) - 1


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
