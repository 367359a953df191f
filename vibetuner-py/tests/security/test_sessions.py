"""#8 item 2: a revoked session stays revoked, the CSRF token is renewed at sign-in, and the
session cookie is a `__Host-` cookie in prod."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.conftest import RedisServer
from tests.frontend._apps import build, client
from vibetuner.config import get_settings
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._session_middleware import SessionMiddleware
from vibetuner.frontend._sessions import session_of
from vibetuner.services.sessions import (
    USER_KEY,
    MemorySessionStore,
    MongoSessionStore,
    RedisSessionStore,
    Session,
    SessionRecord,
    SessionStore,
    SessionUser,
    new_session_id,
)

TRIES = 1000


@pytest.fixture
async def redis_store(redis_server: RedisServer) -> AsyncIterator[RedisSessionStore]:
    from vibetuner.data._redis_clients import close_client, open_client

    redis = open_client(redis_server.url)
    yield RedisSessionStore(redis)
    await close_client(redis)


def _racing_app(store: SessionStore) -> SessionMiddleware:
    """A page that writes the session after a random number of event-loop turns, so the
    write lands before, during or after a revocation."""

    async def write(request: Request) -> Response:
        for _ in range(random.randrange(6)):
            await asyncio.sleep(0)
        session_of(request)["seen"] = session_of(request).get("seen", 0) + 1
        return PlainTextResponse("ok")

    async def whoami(request: Request) -> Response:
        return JSONResponse({"user": getattr(request.scope["user"], "email", None)})

    app = Starlette(routes=[Route("/write", write), Route("/whoami", whoami)])
    return SessionMiddleware(app, store=lambda: store, cookie_name="sid", max_age=3600)


async def _signed_in(store: SessionStore, user_id: str) -> str:
    record = SessionRecord(id=new_session_id(), user_id=user_id)
    record.data = {USER_KEY: SessionUser(id=user_id, email=f"{user_id}@example.com").to_json()}
    record.touch(3600)
    assert await store.create(record)
    return record.id


async def test_requests_in_flight_never_bring_a_revoked_session_back(
    redis_store: RedisSessionStore,
) -> None:
    random.seed(8)
    async with client(_racing_app(redis_store)) as http:
        for attempt in range(TRIES):
            user_id = f"racer{attempt}"
            session_id = await _signed_in(redis_store, user_id)
            cookie = {"Cookie": f"sid={session_id}"}

            async def revoke(
                attempt: int = attempt,
                user_id: str = user_id,
                session_id: str = session_id,
                cookie: dict[str, str] = cookie,
            ) -> None:
                for _ in range(random.randrange(6)):
                    await asyncio.sleep(0)
                if attempt % 2:
                    await redis_store.delete_for_user(user_id)  # sign out everywhere
                else:
                    await redis_store.delete(session_id)  # sign out
                after = await http.get("/whoami", headers=cookie)  # starts after it returned
                assert after.json() == {"user": None}, f"try {attempt}: served after revocation"

            in_flight = [http.get("/write", headers=cookie) for _ in range(3)]
            await asyncio.gather(revoke(), *in_flight)
            assert await redis_store.load(session_id) is None, f"try {attempt}: it came back"
            assert await redis_store.list_for_user(user_id) == []


@pytest.fixture
async def users_db(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> AsyncIterator[None]:
    from vibetuner.data._mongo import close_db, init_db
    from vibetuner.data._redis import close_redis
    from vibetuner.services.sessions import get_session_store

    settings_env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_revoke_{uuid.uuid4().hex[:8]}")
    settings_env.setenv("REDIS_URL", redis_server.url)
    get_session_store.cache_clear()
    await init_db()
    yield
    await close_db()
    await close_redis()
    get_session_store.cache_clear()


async def test_a_role_change_is_not_undone_by_a_sign_in_in_flight(users_db: None) -> None:
    from vibetuner.data.models.user import User
    from vibetuner.services.auth import get_or_create_user, sign_in
    from vibetuner.services.sessions import get_session_store
    from vibetuner.services.users import change_roles, set_active

    store = get_session_store()
    for attempt in range(200):
        email = f"promoted{attempt}@example.com"
        user = await get_or_create_user(email)
        session = Session(None)

        async def signing_in(session: Session = session, user: User = user) -> None:
            await sign_in(session, user)  # read the user before the change lands
            record = session.record
            if record is None:
                return
            record.data = dict(session)
            record.touch(3600)
            await store.create(record)

        change = (
            change_roles(email, add=["admin"]) if attempt % 2 else set_active(email, active=False)
        )
        await asyncio.gather(signing_in(), change)
        for record in await store.list_for_user(str(user.id)):
            kept = SessionUser.from_json(record.data[USER_KEY])
            assert attempt % 2 and "admin" in kept.roles, f"try {attempt}: stale {kept.roles}"


async def test_signing_in_as_someone_else_leaves_the_last_users_data_behind(
    users_db: None,
) -> None:
    from vibetuner.services.auth import get_or_create_user, sign_in

    ada = await get_or_create_user("ada-switch@example.com")
    bob = await get_or_create_user("bob-switch@example.com")
    session = Session(None)
    await sign_in(session, ada)
    session["cart"] = "ada's"
    await sign_in(session, ada)
    assert session.get("cart") == "ada's", "signing in again as the same user keeps the data"
    await sign_in(session, bob)
    assert "cart" not in session
    assert SessionUser.from_json(session[USER_KEY]).email == "bob-switch@example.com"


async def test_the_csrf_token_is_renewed_at_sign_in() -> None:
    store = MemorySessionStore()
    async with client(build(store)) as http:
        before = (await http.get("/token")).text
        assert (await http.get("/token")).text == before
        signed_in = await http.post("/login", headers={"X-CSRF-Token": before})
        assert signed_in.status_code == 200
        after = (await http.get("/token")).text
        assert after != before
        refused = await http.post("/put", headers={"X-CSRF-Token": before})
        assert refused.status_code == 403, "the token from before sign-in is worth nothing"
        assert (await http.post("/put", headers={"X-CSRF-Token": after})).status_code == 200


@pytest.mark.parametrize(
    ("environment", "name", "cookie"),
    [
        ("prod", None, "__Host-vt_session"),
        ("prod", "app_sid", "__Host-app_sid"),
        ("prod", "__Host-mine", "__Host-mine"),
        ("dev", None, "vt_session"),
    ],
)
def test_the_session_cookie_is_a_host_cookie_in_prod(
    settings_env: pytest.MonkeyPatch, environment: str, name: str | None, cookie: str
) -> None:
    from fastapi import FastAPI

    from vibetuner.config import reset_settings
    from vibetuner.frontend._middleware import setup_middleware

    settings_env.setenv("ENVIRONMENT", environment)
    settings_env.setenv("SECRET_KEY", "q" + uuid.uuid4().hex + uuid.uuid4().hex)
    if name:
        settings_env.setenv("SESSION_COOKIE", name)
    reset_settings()
    assert get_settings().session_cookie_name == cookie
    app = FastAPI()
    setup_middleware(app)
    sessions = [m for m in app.user_middleware if m.cls is SessionMiddleware]
    assert sessions and sessions[0].kwargs["cookie_name"] == cookie


async def test_a_host_cookie_is_set_secure_for_the_whole_site() -> None:
    store = MemorySessionStore()
    app = SessionMiddleware(
        _racing_app(store).app, store=lambda: store, cookie_name="__Host-sid", secure=True
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        answer = await http.get("/write")
    set_cookie = answer.headers["set-cookie"]
    assert set_cookie.startswith("__Host-sid=")
    assert "; Secure" in set_cookie and "; Path=/" in set_cookie and "Domain" not in set_cookie


def _two_writers_app(store: SessionStore, loaded: asyncio.Event, go: asyncio.Event) -> object:
    """`/slow` changes the session only after `/fast` has written it (a passkey challenge
    beside an OAuth start on the sign-in page); both must keep what they wrote."""

    async def start(request: Request) -> Response:
        session_of(request)["kept"] = "yes"
        session_of(request)["dropped"] = "soon"
        return PlainTextResponse("ok")

    async def slow(request: Request) -> Response:
        loaded.set()
        await go.wait()
        session_of(request)["challenge"] = "c1"
        del session_of(request)["dropped"]
        return PlainTextResponse("slow")

    async def fast(request: Request) -> Response:
        session_of(request)["flow"] = "f1"
        return PlainTextResponse("fast")

    async def peek(request: Request) -> Response:
        return JSONResponse(dict(session_of(request)))

    app = Starlette(routes=[Route("/start", start), Route("/slow", slow),
                            Route("/fast", fast), Route("/peek", peek)])  # fmt: skip
    return SessionMiddleware(app, store=lambda: store, cookie_name="sid")


@pytest.fixture(params=["memory", "redis", "mongo"])
async def any_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore()
        return
    if request.param == "mongo":
        from pymongo import AsyncMongoClient

        mongo: EmbeddedMongo = request.getfixturevalue("vibetuner_mongo")
        mongo_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url)
        collection = mongo_client["sessions_overlap"][f"s_{new_session_id()[:8]}"]
        yield MongoSessionStore(collection)
        await collection.drop()
        await mongo_client.close()
        return
    from vibetuner.data._redis_clients import close_client, open_client

    with RedisServer(tmp_path_factory.mktemp("overlap")) as server:
        redis = open_client(server.url)
        yield RedisSessionStore(redis)
        await close_client(redis)


async def test_requests_of_one_session_that_overlap_keep_each_others_changes(
    any_store: SessionStore,
) -> None:
    """Each request writes only the keys it changed onto what is stored by then: a slower
    request no longer puts back the session as it read it, losing the other's write."""
    store = any_store
    loaded, go = asyncio.Event(), asyncio.Event()
    async with client(_two_writers_app(store, loaded, go)) as http:
        assert (await http.get("/start")).status_code == 200
        slow = asyncio.create_task(http.get("/slow"))
        await loaded.wait()  # the slow request holds the session as it was
        assert (await http.get("/fast")).text == "fast"
        go.set()
        assert (await slow).text == "slow"
        data = (await http.get("/peek")).json()
    assert data == {"kept": "yes", "flow": "f1", "challenge": "c1"}, data


class _SavesCrossing(MemorySessionStore):
    """Holds the first update back until a second one is written: two requests of one
    session save at the same moment, each merged onto the data read before the other."""

    def __init__(self, inner: SessionStore) -> None:
        super().__init__()
        self.inner, self.updates = inner, 0
        self.loaded, self.second_written = asyncio.Event(), asyncio.Event()

    async def load(self, session_id: str) -> SessionRecord | None:
        return await self.inner.load(session_id)

    async def create(self, record: SessionRecord) -> bool:
        return await self.inner.create(record)

    async def update(self, record: SessionRecord) -> bool:
        self.updates += 1
        if self.updates == 1:
            self.loaded.set()
            await self.second_written.wait()
            return await self.inner.update(record)
        written = await self.inner.update(record)
        self.second_written.set()
        return written


async def test_requests_of_one_session_that_save_together_keep_each_others_changes(
    any_store: SessionStore,
) -> None:
    """Read, merge and write is one step per store: the save that comes second was read
    before the first was written, so it is refused and merged again (without that, the
    passkey challenge wiped out the OAuth state of a sign-in started beside it)."""
    crossing = _SavesCrossing(any_store)
    loaded, go = asyncio.Event(), asyncio.Event()
    go.set()
    app = _two_writers_app(crossing, loaded, go)
    async with client(app) as http:
        assert (await http.get("/start")).status_code == 200
        slow = asyncio.create_task(http.get("/slow"))
        await crossing.loaded.wait()  # its merge is done, its write held back
        assert (await http.get("/fast")).text == "fast"
        assert (await slow).text == "slow"
        data = (await http.get("/peek")).json()
    assert data == {"kept": "yes", "flow": "f1", "challenge": "c1"}, data
    assert crossing.updates == 3, "the held-back save was refused once and merged again"


class _AlwaysOvertaken(MemorySessionStore):
    """Before each save of ours, another request of the session saves first."""

    def __init__(self, inner: SessionStore) -> None:
        super().__init__()
        self.inner, self.overtaken = inner, 0

    async def load(self, session_id: str) -> SessionRecord | None:
        return await self.inner.load(session_id)

    async def create(self, record: SessionRecord) -> bool:
        return await self.inner.create(record)

    async def update(self, record: SessionRecord) -> bool:
        other = await self.inner.load(record.id)
        assert other is not None
        self.overtaken += 1
        other.data = {**other.data, "other": self.overtaken}
        assert await self.inner.update(other)
        return await self.inner.update(record)


async def test_a_save_overtaken_every_time_is_a_503_and_loses_nobodys_write(
    any_store: SessionStore,
) -> None:
    """Past MERGE_ATTEMPTS saves of others between its read and its write, a request is
    answered as in an outage (503, Retry-After), and what the others wrote stays."""
    from vibetuner.frontend._session_middleware import MERGE_ATTEMPTS

    store = _AlwaysOvertaken(any_store)
    async with client(_two_writers_app(store, asyncio.Event(), asyncio.Event())) as http:
        assert (await http.get("/start")).status_code == 200
        refused = await http.get("/fast", headers={"Accept": "text/html"})
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert "Traceback" not in refused.text
        session_id = http.cookies["sid"]
    assert store.overtaken == MERGE_ATTEMPTS
    stored = await any_store.load(session_id)
    assert stored is not None
    assert stored.data == {"kept": "yes", "dropped": "soon", "other": MERGE_ATTEMPTS}
