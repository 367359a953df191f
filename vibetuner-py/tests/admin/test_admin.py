"""The admin: only admins see it (everyone else gets 404 on every route), lists page by
keyset and search by index, forms show the model's messages, and every change is audited."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, ClassVar

import httpx
import pymongo
import pytest
from beanie import Document
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import StringConstraints

from tests.frontend.auth_support import browser, running
from vibetuner import create_app, register_admin
from vibetuner.exceptions import ConfigError
from vibetuner.frontend._admin._registry import unregister
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.testing import csrf_token_of, sign_in_as

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]


class Gadget(Document):
    name: Annotated[str, StringConstraints(min_length=2, max_length=40)]
    price: int = 0
    published: bool = False

    class Settings:
        name = "gadgets"
        indexes: ClassVar = [pymongo.IndexModel([("name", 1), ("_id", 1)])]


async def publish(gadgets: list[Any]) -> None:
    for gadget in gadgets:
        gadget.published = True
        await gadget.save()


@pytest.fixture
def registered_gadget() -> Iterator[None]:
    register_admin(Gadget, search_fields=["name"], sort_fields=["name"], filters=["published"],
                   actions={"publish": publish}, page_size=5)  # fmt: skip
    yield
    unregister("gadgets")


@pytest.fixture
async def app(auth_env: pytest.MonkeyPatch, registered_gadget: None) -> AsyncIterator[FastAPI]:
    application = create_app(models=[Gadget])
    setup_middleware(application)
    async with running(application):
        yield application


@pytest.fixture
async def admin(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    from vibetuner.services.users import create_user

    await create_user("root@example.com", roles=["admin"])
    async with browser(app) as client:
        await sign_in_as(client, "root@example.com")
        yield client


async def token(client: httpx.AsyncClient) -> str:
    return csrf_token_of((await client.get("/admin")).text)


def flat(routes: list[Any]) -> Iterator[Any]:
    """Every route, including those of included routers (FastAPI includes them lazily)."""
    for route in routes:
        yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from flat(included.routes)


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for route in flat(app.routes)
        if isinstance(route, APIRoute) and route.path.startswith("/admin")
        for method in sorted(route.methods)
    ]


async def test_everyone_but_admins_gets_404_on_every_admin_route(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    gadget = await Gadget(name="Widget").insert()
    routes = admin_routes(app)
    assert len(routes) >= 10
    async with browser(app) as anonymous, browser(app) as member:
        await sign_in_as(member, "member@example.com")
        member_token = csrf_token_of((await member.get("/account")).text)
        for method, path in routes:
            url = path.replace("{slug}", "gadgets").replace("{doc_id}", str(gadget.id))
            form = {"action": "delete", "ids": str(gadget.id), "name": "x"}
            for who, headers in ((anonymous, {}), (member, {"X-CSRF-Token": member_token})):
                answer = await who.request(method, url, data=form if method == "POST" else None,
                                           headers=headers)  # fmt: skip
                assert answer.status_code == 404, (method, url, answer.status_code)
        # ...and the admin reaches every GET page.
        for method, path in routes:
            if method == "GET":
                url = path.replace("{slug}", "gadgets").replace("{doc_id}", str(gadget.id))
                assert (await admin.get(url)).status_code == 200, url
    assert await Gadget.get(gadget.id) is not None


async def test_list_sorts_filters_pages_by_keyset_and_searches_by_prefix(
    admin: httpx.AsyncClient,
) -> None:
    await Gadget.insert_many(
        [Gadget(name=f"gizmo {n:02d}", published=n % 2 == 0) for n in range(12)]
    )
    await Gadget(name="other").insert()
    seen: list[str] = []
    url: str | None = "/admin/gadgets?sort=name"
    while url:
        page = await admin.get(url, headers={"HX-Request": "true"})
        assert page.status_code == 200
        seen += re.findall(r">(gizmo \d\d|other)<", page.text)
        found = re.search(r'href="(/admin/gadgets\?[^"]*after=[^"]+)" data-admin-next', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == sorted(seen) and len(seen) == 13
    search = await admin.get("/admin/gadgets?q=gizmo%2001")
    assert re.findall(r">(gizmo \d\d)<", search.text) == ["gizmo 01"]
    published = await admin.get("/admin/gadgets?published=true&q=gizmo")
    assert set(re.findall(r">(gizmo \d\d)<", published.text)) <= {
        f"gizmo {n:02d}" for n in range(0, 12, 2)
    }
    assert (await admin.get("/admin/gadgets?sort=price")).status_code == 400
    assert (await admin.get("/admin/gadgets?after=nonsense")).status_code == 400


async def test_search_uses_an_index_and_unindexed_fields_are_refused(app: FastAPI) -> None:
    from vibetuner.frontend._admin._query import ListQuery, base_filter
    from vibetuner.frontend._admin._registry import find

    entry = find("gadgets")
    assert entry is not None
    query = base_filter(entry, ListQuery(q="giz", search_field="name"))
    assert query == {"name": {"$gte": "giz", "$lt": "giz\uffff"}}
    plan = await Gadget.get_pymongo_collection().find(query).explain()
    assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
    with pytest.raises(ConfigError, match="has no index"):
        register_admin(Gadget, search_fields=["price"], slug="gadgets_unindexed")


async def test_create_and_edit_show_the_models_messages_and_are_audited(
    admin: httpx.AsyncClient,
) -> None:
    from vibetuner.data.models.audit import AuditEntry

    csrf = await token(admin)
    bad = await admin.post(
        "/admin/gadgets/new", data={"csrf_token": csrf, "name": "x", "price": "1"}
    )
    assert bad.status_code == 422
    assert "Name must be at least 2 characters." in bad.text
    assert (
        await admin.post(
            "/admin/gadgets/new", data={"csrf_token": csrf, "name": "Lamp", "price": "nope"}
        )
    ).status_code == 422
    made = await admin.post(
        "/admin/gadgets/new", data={"csrf_token": csrf, "name": "Lamp", "price": "3"}
    )
    assert made.status_code == 303
    gadget = await Gadget.find_one({"name": "Lamp"})
    assert gadget is not None and gadget.price == 3
    edited = await admin.post(
        f"/admin/gadgets/{gadget.id}/edit", data={"csrf_token": csrf, "name": "Lamp", "price": "5"}
    )
    assert edited.status_code == 303
    entries = (
        await AuditEntry.find({"target": "gadgets", "target_id": str(gadget.id)})
        .sort("at")
        .to_list()
    )
    assert [e.action for e in entries] == ["admin.create", "admin.update"]
    assert entries[1].changes == {"price": {"before": 3, "after": 5}}
    assert entries[1].actor_email == "root@example.com"
    audit_page = await admin.get("/admin/audit_log")
    assert "admin.update" in audit_page.text
    assert (await admin.get(f"/admin/audit_log/{entries[0].id}/edit")).status_code == 404


async def test_delete_needs_a_confirm_and_bulk_actions_run(admin: httpx.AsyncClient) -> None:
    from vibetuner.data.models.audit import AuditEntry

    csrf = await token(admin)
    one, two, three = [await Gadget(name=f"g{n}x").insert() for n in range(3)]
    confirm = await admin.get(f"/admin/gadgets/{one.id}/delete")
    assert "data-admin-confirm" in confirm.text and await Gadget.get(one.id) is not None
    assert (
        await admin.post(f"/admin/gadgets/{one.id}/delete", data={"csrf_token": csrf})
    ).status_code == 303
    assert await Gadget.get(one.id) is None
    ids = [str(two.id), str(three.id)]
    asked = await admin.post(
        "/admin/gadgets/bulk", data={"csrf_token": csrf, "action": "publish", "ids": ids}
    )
    assert asked.status_code == 303
    assert all(
        g.published for g in await Gadget.find({"_id": {"$in": [two.id, three.id]}}).to_list()
    )
    sure = await admin.post(
        "/admin/gadgets/bulk", data={"csrf_token": csrf, "action": "delete", "ids": ids}
    )
    assert sure.status_code == 200 and "data-admin-confirm" in sure.text
    assert await Gadget.find().count() == 2
    gone = await admin.post(
        "/admin/gadgets/bulk",
        data={"csrf_token": csrf, "action": "delete", "ids": ids, "confirmed": "yes"},
    )
    assert gone.status_code == 303 and await Gadget.find().count() == 0
    actions = sorted(e.action for e in await AuditEntry.find({"target": "gadgets"}).to_list())
    assert actions == ["admin.action.publish"] * 2 + ["admin.delete"] * 3


async def test_changes_without_a_csrf_token_are_refused(admin: httpx.AsyncClient) -> None:
    answer = await admin.post("/admin/gadgets/new", data={"name": "Lamp"})
    assert answer.status_code == 403
    assert await Gadget.find().count() == 0


async def test_a_role_change_goes_through_services_users_and_ends_sessions(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    from vibetuner.data.models.user import User

    async with browser(app) as member:
        await sign_in_as(member, "member@example.com")
        assert (await member.get("/account")).status_code == 200
        user = await User.by_email("member@example.com")
        assert user is not None
        form = {"csrf_token": await token(admin), "email": user.email, "name": "", "locale": "",
                "is_active": "true", "roles": "editor"}  # fmt: skip
        assert (await admin.post(f"/admin/users/{user.id}/edit", data=form)).status_code == 303
        assert (await User.by_email("member@example.com")).roles == ["editor"]  # type: ignore[union-attr]
        assert (await member.get("/account")).status_code == 303  # signed out


async def test_a_refused_user_edit_changes_nothing(app: FastAPI, admin: httpx.AsyncClient) -> None:
    """Every field is checked before any is written: a form refused for its roles or for a
    taken email leaves the account as it was (and so needs no audit entry)."""
    from vibetuner.data.models.audit import AuditEntry
    from vibetuner.data.models.user import User
    from vibetuner.services.users import create_user

    member = await create_user("member@example.com")
    form = {"csrf_token": await token(admin), "name": "", "locale": "", "is_active": "true"}
    bad_role = {**form, "email": "attacker@example.com", "roles": "NOT-A-ROLE"}
    refused = await admin.post(f"/admin/users/{member.id}/edit", data=bad_role)
    assert refused.status_code == 422 and "not a valid role name" in refused.text
    taken = {**form, "email": "root@example.com", "roles": ""}
    duplicate = await admin.post(f"/admin/users/{member.id}/edit", data=taken)
    assert duplicate.status_code == 422 and "already has this value for email" in duplicate.text
    stored = await User.get(member.id)
    assert stored is not None and stored.email == "member@example.com" and stored.roles == []
    assert await AuditEntry.find({"target_id": str(member.id)}).count() == 0


async def test_a_number_mongodb_cannot_store_is_a_form_problem(admin: httpx.AsyncClient) -> None:
    csrf = await token(admin)
    form = {"csrf_token": csrf, "name": "Lamp", "price": str(2**64)}
    refused = await admin.post("/admin/gadgets/new", data=form)
    assert refused.status_code == 422 and "A value is too large to store." in refused.text
    assert await Gadget.find_one({"name": "Lamp"}) is None


@pytest.mark.parametrize(
    "query",
    [
        "after=WzEsIHsiJG9pZCI6ICJ6eiJ9XQ",  # [1, {"$oid": "zz"}]
        "after=W3siJGRhdGUiOiAxZTMwfSwgeyIkb2lkIjoiMDEyMzQ1Njc4OWFiMDEyMzQ1Njc4OWFiIn1d",
        "after=" + base64.urlsafe_b64encode(b"[" * 3000).decode(),  # nested thousands deep
        "after=WzEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MCwgeyIkb2lkIjoiMDEyMzQ1Njc4OWFiMDEyMzQ1Njc4OWFiIn1d",
        "price=abc",
        "price=99999999999999999999",
    ],
    ids=["bad-oid", "huge-date", "deep", "wide-int", "filter-text", "filter-wide-int"],
)
async def test_malformed_list_links_are_a_400(admin: httpx.AsyncClient, query: str) -> None:
    register_admin(Gadget, filters=["price"], slug="gadgets_by_price")
    try:
        response = await admin.get(f"/admin/gadgets_by_price?{query}")
    finally:
        unregister("gadgets_by_price")
    assert response.status_code == 400, response.text[:300]


def test_json_nested_past_the_recursion_limit_is_a_form_problem() -> None:
    from pydantic.fields import FieldInfo

    from vibetuner.frontend._admin._fields import Widget, read_form

    widgets = [Widget("data", "Data", "json", None, True)]
    values, problems = read_form(widgets, {"data": "[" * 100_000}, {"data": FieldInfo()})
    assert "data" not in values and problems == ["Data: not valid JSON."]


class Part(Document):
    label: str | None = None

    class Settings:
        name = "admin_parts"
        indexes: ClassVar = [pymongo.IndexModel([("label", 1), ("_id", 1)])]


@pytest.fixture
async def parts(auth_env: pytest.MonkeyPatch) -> AsyncIterator[None]:
    register_admin(Part, sort_fields=["label"], page_size=3)
    application = create_app(models=[Part])
    try:
        async with running(application):
            yield
    finally:
        unregister("admin_parts")


@pytest.mark.parametrize("sort", ["label", "-label"])
async def test_keyset_pages_reach_every_row_when_the_sort_field_is_sometimes_empty(
    parts: None, sort: str
) -> None:
    """Empty (null or missing) values sort lowest, as MongoDB orders them: a page that ends on
    a value must lead on to the empty ones (descending) and one that ends on an empty value
    to the others (ascending), which a plain `$lt`/`$gt` on the value never matches."""
    from vibetuner.frontend._admin._query import ListQuery, fetch
    from vibetuner.frontend._admin._registry import find

    labels = ["b", None, "a", "c", None, "b", None, "d", "a", None]
    inserted = [await Part(label=label).insert() for label in labels]
    missing = await Part.get_pymongo_collection().insert_one({})  # no label at all
    entry = find("admin_parts")
    assert entry is not None
    seen: list[Any] = []
    after = ""
    for _ in range(20):
        page = await fetch(entry, ListQuery(sort=sort, after=after))
        seen += [part.id for part in page.documents]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    rows = [(part.label, part.id) for part in inserted] + [(None, missing.inserted_id)]
    descending = sort.startswith("-")
    # Empty first ascending, last descending; ties by _id in the same direction.
    rows.sort(key=lambda row: (row[0] is not None, row[0] or "", row[1]), reverse=descending)
    assert seen == [row_id for _, row_id in rows], "every row once, in order"
