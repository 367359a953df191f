from datetime import timedelta

from tests.frontend._apps import build, client
from vibetuner.services.sessions import MemorySessionStore, utcnow


async def _csrf(http) -> str:  # type: ignore[no-untyped-def]
    return (await http.get("/token")).text


async def test_anonymous_requests_write_nothing() -> None:
    store = MemorySessionStore()
    async with client(build(store)) as http:
        response = await http.get("/peek")
    assert "set-cookie" not in response.headers
    assert store._records == {}
    assert response.json() == {"data": {}, "id": None, "user": None}


async def test_anonymous_requests_without_a_cookie_never_reach_the_store() -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from vibetuner.frontend._session_middleware import SessionMiddleware

    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse("page")

    def no_store() -> MemorySessionStore:
        raise AssertionError("the store was asked for on an anonymous request")

    from starlette.applications import Starlette

    app = SessionMiddleware(Starlette(routes=[Route("/", page)]), store=no_store)
    async with client(app) as http:
        assert (await http.get("/")).text == "page"


async def test_cookie_is_opaque_and_flagged() -> None:
    store = MemorySessionStore()
    async with client(build(store, max_age=1234)) as http:
        response = await http.get("/put")
    cookie = response.headers["set-cookie"]
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 43 and session_id in store._records
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1234"):
        assert flag in cookie
    assert "Secure" not in cookie
    async with client(build(MemorySessionStore(), secure=True)) as http:
        assert "Secure" in (await http.get("/put")).headers["set-cookie"]


async def test_data_round_trips_and_unchanged_requests_do_not_write() -> None:
    store = MemorySessionStore()
    async with client(build(store)) as http:
        await http.get("/put")
        await http.get("/put")
        peek = await http.get("/peek")
    assert peek.json()["data"] == {"n": 2}
    assert "set-cookie" not in peek.headers


async def test_tampered_or_unknown_cookie_is_anonymous() -> None:
    store = MemorySessionStore()
    async with client(build(store)) as http:
        for value in ("forged", "x" * 500, '"";;', "%00"):
            http.cookies.set("sid", value)
            response = await http.get("/peek")
            assert response.status_code == 200
            assert response.json()["id"] is None
    assert store._records == {}


async def test_unknown_cookie_is_cleared() -> None:
    async with client(build(MemorySessionStore())) as http:
        http.cookies.set("sid", "a" * 43)
        response = await http.get("/peek")
    assert "Max-Age=0" in response.headers["set-cookie"]


async def test_sign_in_rotates_the_id_and_sets_the_user() -> None:
    store = MemorySessionStore()
    async with client(build(store)) as http:
        token = await _csrf(http)
        before = http.cookies["sid"]
        await http.post("/login", headers={"X-CSRF-Token": token})
        after = http.cookies["sid"]
        peek = (await http.get("/peek")).json()
    assert before != after
    assert before not in store._records and after in store._records
    assert peek["user"] == "ada@example.com"
    assert store._records[after].user_id == "u1"


async def test_logout_deletes_the_record_and_the_old_cookie_is_anonymous() -> None:
    store = MemorySessionStore()
    async with client(build(store)) as http:
        token = await _csrf(http)
        await http.post("/login", headers={"X-CSRF-Token": token})
        old = http.cookies["sid"]
        token = await _csrf(http)
        response = await http.post("/logout", headers={"X-CSRF-Token": token})
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert old not in store._records
        http.cookies.set("sid", old)
        replay = (await http.get("/peek")).json()
    assert replay == {"data": {}, "id": None, "user": None}


async def test_expiry_slides_once_a_tenth_of_the_lifetime_passed() -> None:
    store = MemorySessionStore()
    async with client(build(store, max_age=1000)) as http:
        await http.get("/put")
        session_id = http.cookies["sid"]
        fresh = await http.get("/peek")
        assert "set-cookie" not in fresh.headers
        store._records[session_id].expires_at = utcnow() + timedelta(seconds=850)
        renewed = await http.get("/peek")
    assert "Max-Age=1000" in renewed.headers["set-cookie"]
    assert store._records[session_id].expires_at > utcnow() + timedelta(seconds=990)


async def test_a_session_nobody_signed_in_to_lasts_the_anonymous_max_age() -> None:
    """A crawler that fetches a form page leaves a record each time: a short-lived one."""
    store = MemorySessionStore()
    async with client(build(store, max_age=1000, anonymous_max_age=100)) as http:
        looked = await http.get("/put")
        anonymous = store._records[http.cookies["sid"]]
        assert "Max-Age=100;" in looked.headers["set-cookie"]
        assert anonymous.expires_at < utcnow() + timedelta(seconds=101)
        signed_in = await http.post("/login", headers={"X-CSRF-Token": await _csrf(http)})
    assert "Max-Age=1000;" in signed_in.headers["set-cookie"]
    assert store._records[http.cookies["sid"]].expires_at > utcnow() + timedelta(seconds=990)


def test_the_session_cookie_is_read_from_among_others() -> None:
    from vibetuner.frontend._session_middleware import _cookie

    def scope(header: str) -> dict[str, object]:
        return {"headers": [(b"cookie", header.encode("latin-1"))]}

    assert _cookie(scope("theme=dark; vt_session=abc_-9; lang=es"), "vt_session") == "abc_-9"
    assert _cookie(scope("vt_session=old;vt_session=new"), "vt_session") == "new"
    assert _cookie(scope("my_vt_session=x"), "vt_session") is None
    assert _cookie(scope("vt_session="), "vt_session") is None
    assert _cookie(scope("vt_session=" + "a" * 129), "vt_session") is None
    assert _cookie({"headers": []}, "vt_session") is None
