"""The feed's cache (app.services.feed): every write shows at once, from this process or
another one, and each visitor still gets their own parts of the page."""

import os
import subprocess
import sys

import httpx
from fastapi import FastAPI
from vibetuner.testing import LiveServer, sign_in_as

from app.models import Post
from app.services.feed import feed_changed
from tests.test_posts import HX, hx_headers


def _another_browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _feed(client: httpx.AsyncClient) -> str:
    response = await client.get("/posts", headers=HX)
    assert response.status_code == 200
    return response.text


async def test_the_feed_comes_from_the_cache(client: httpx.AsyncClient) -> None:
    """A write that skips the model's hooks (a bulk one) shows only after feed_changed()."""
    await Post(content="Cached first").insert()
    assert "Cached first" in await _feed(client)
    await Post.find(Post.content == "Cached first").update({"$set": {"content": "Bulk edit"}})
    assert "Cached first" in await _feed(client), "served from the cache, not the database"
    await feed_changed()
    feed = await _feed(client)
    assert "Bulk edit" in feed and "Cached first" not in feed


async def test_creating_editing_and_deleting_show_at_once(
    client: httpx.AsyncClient,
) -> None:
    await sign_in_as(client, "cache@example.com", name="Cache")
    headers = await hx_headers(client)
    await _feed(client)  # cached before each write
    await client.post("/posts", data={"content": "Fresh from the oven"}, headers=headers)
    assert "Fresh from the oven" in await _feed(client)
    post = await Post.find_one(Post.content == "Fresh from the oven")
    assert post is not None
    await client.post(f"/posts/{post.id}", data={"content": "Reheated"}, headers=headers)
    feed = await _feed(client)
    assert "Reheated" in feed and "Fresh from the oven" not in feed
    deleted = await client.post(f"/posts/{post.id}/delete", headers=headers)
    assert deleted.status_code == 200 and deleted.text == ""
    assert f"post-{post.id}" not in await _feed(client)
    assert await Post.get(post.id) is None


async def test_later_pages_are_refreshed_too(client: httpx.AsyncClient) -> None:
    await Post.insert_many([Post(content=f"older {i}") for i in range(12)])
    await feed_changed()  # insert_many skips the hooks
    first = await Post.find().sort(-Post.id).limit(1).to_list()
    before = first[0].id
    older = await Post.find(Post.id < before).sort(-Post.id).limit(1).to_list()
    assert older[0].content in (await client.get(f"/posts?before={before}", headers=HX)).text
    older[0].content = "changed on page two"
    await older[0].save()
    assert "changed on page two" in (await client.get(f"/posts?before={before}", headers=HX)).text


async def test_each_visitor_gets_their_own_parts(
    client: httpx.AsyncClient, vibetuner_app: FastAPI
) -> None:
    """Only the query is cached: the Edit button and the CSRF token are the reader's own."""
    await sign_in_as(client, "owner@example.com", name="Owner")
    headers = await hx_headers(client)
    await client.post("/posts", data={"content": "Owned by one"}, headers=headers)
    post = await Post.find_one(Post.content == "Owned by one")
    assert post is not None
    edit = f'href="/posts/{post.id}/edit"'
    async with _another_browser(vibetuner_app) as other, _another_browser(vibetuner_app) as guest:
        await sign_in_as(other, "other-reader@example.com", name="Other")
        assert edit not in await _feed(other), "the first reader fills the cache"
        assert edit in await _feed(client), "the author still gets the Edit button"
        assert edit not in await _feed(guest)
        other_page, own_page = await other.get("/posts"), await client.get("/posts")
        other_token = (await hx_headers(other))["X-CSRF-Token"]
    assert "Owned by one" in other_page.text and "Owned by one" in own_page.text
    assert edit in own_page.text and edit not in other_page.text
    assert other_token != headers["X-CSRF-Token"]


async def test_only_the_author_deletes(client: httpx.AsyncClient, vibetuner_app: FastAPI) -> None:
    await sign_in_as(client, "keeper@example.com", name="Keeper")
    headers = await hx_headers(client)
    await client.post("/posts", data={"content": "Keep me around"}, headers=headers)
    post = await Post.find_one(Post.content == "Keep me around")
    assert post is not None
    async with _another_browser(vibetuner_app) as other, _another_browser(vibetuner_app) as guest:
        await sign_in_as(other, "vandal@example.com", name="Vandal")
        refused = await other.post(f"/posts/{post.id}/delete", headers=await hx_headers(other))
        visitor = await guest.post(f"/posts/{post.id}/delete", headers=HX)
    assert refused.status_code == 403 and visitor.status_code == 401
    assert "Keep me around" in await _feed(client)
    edit_page = f"http://testserver/posts/{post.id}/edit"
    from_page = await client.post(
        f"/posts/{post.id}/delete", headers={**headers, "HX-Current-URL": edit_page}
    )
    assert from_page.headers["HX-Redirect"] == "/posts", "the edit page would be left empty"
    missing = await client.post(f"/posts/{post.id}/delete", headers=headers)
    assert missing.status_code == 404


async def test_deleting_without_javascript_returns_to_the_feed(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "plain@example.com", name="Plain")
    headers = await hx_headers(client)
    await client.post("/posts", data={"content": "Plain delete"}, headers=headers)
    post = await Post.find_one(Post.content == "Plain delete")
    assert post is not None
    form = await client.get(f"/posts/{post.id}/edit")
    assert f'formaction="/posts/{post.id}/delete"' in form.text
    token = headers["X-CSRF-Token"]
    deleted = await client.post(f"/posts/{post.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/posts"
    assert "Plain delete" not in (await client.get("/posts")).text


WRITER = """
import asyncio
import sys

from beanie import PydanticObjectId
from vibetuner import close_db, init_db

from app.models import MODELS, Post


async def main(action: str, *args: str) -> None:
    await init_db(MODELS)
    try:
        if action == "create":
            post = Post(content=args[0])
            await post.insert()
            print(post.id)
            return
        post = await Post.get(PydanticObjectId(args[0]))
        if action == "edit":
            post.content = args[1]
            await post.save()
        else:
            await post.delete()
    finally:
        await close_db()


asyncio.run(main(*sys.argv[1:]))
"""


def _write_elsewhere(live: LiveServer, *args: str) -> str:
    """One write from another process, sharing the live server's database and Redis."""
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env["DATABASE_URL"] = live.database_url
    if live.redis_url:
        env["REDIS_URL"] = live.redis_url
    done = subprocess.run(
        [sys.executable, "-c", WRITER, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_writes_from_another_process_show_at_once(
    vibetuner_live_server: LiveServer,
) -> None:
    """The live server (its own process, on Redis when the app has jobs) sees at once what
    another process wrote: the write's new generation reaches every process."""
    async with httpx.AsyncClient(base_url=vibetuner_live_server.url) as http:

        async def feed() -> str:
            response = await http.get("/posts", headers=HX)
            assert response.status_code == 200
            return response.text

        await feed()  # cached
        post_id = _write_elsewhere(vibetuner_live_server, "create", "Written elsewhere")
        assert "Written elsewhere" in await feed()
        _write_elsewhere(vibetuner_live_server, "edit", post_id, "Edited elsewhere")
        page = await feed()
        assert "Edited elsewhere" in page and "Written elsewhere" not in page
        _write_elsewhere(vibetuner_live_server, "delete", post_id)
        assert f"post-{post_id}" not in await feed()
