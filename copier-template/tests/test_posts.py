import httpx
from fastapi import FastAPI
from vibetuner import get_broadcaster
from vibetuner.testing import csrf_token_of, sign_in_as

from app.models import Post
from app.services.feed import feed_changed

HX = {"HX-Request": "true"}


async def hx_headers(client: httpx.AsyncClient) -> dict[str, str]:
    page = await client.get("/posts")
    return {**HX, "X-CSRF-Token": csrf_token_of(page.text)}


async def test_every_page_links_the_posts(client: httpx.AsyncClient) -> None:
    """The layout's navigation is on the framework's pages too (sign-in, account, errors)."""
    visitor = ["/", "/posts", "/auth/login", "/no-such-page"]
    pages = [await client.get(path, headers={"Accept": "text/html"}) for path in visitor]
    await sign_in_as(client, "navigator@example.com", name="Navigator")
    for path in ("/account", "/account/sessions", "/auth/logout"):
        pages.append(await client.get(path))
    for page in pages:
        assert page.status_code in (200, 404), page.url
        assert 'data-nav="posts"' in page.text, f"{page.url} lacks the Posts link"


async def test_visitors_must_sign_in_to_post(client: httpx.AsyncClient) -> None:
    page = await client.get("/posts")
    assert 'id="sign-in-to-post"' in page.text and 'id="post-form"' not in page.text
    response = await client.post("/posts", data={"content": "anonymous"}, headers=HX)
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/auth/login")
    assert await Post.find(Post.content == "anonymous").count() == 0


async def test_create_post_returns_the_new_item(signed_in: httpx.AsyncClient) -> None:
    headers = await hx_headers(signed_in)
    form = {"content": "Hello from a test"}
    response = await signed_in.post("/posts", data=form, headers=headers)
    assert response.status_code == 200
    assert "Hello from a test" in response.text
    assert "<html" not in response.text
    assert response.headers["HX-Trigger"] == "post-created"
    assert "Writer" in response.text
    assert await Post.find(Post.content == "Hello from a test").count() == 1


async def test_post_without_csrf_token_is_403(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.post("/posts", data={"content": "forged"}, headers=HX)
    assert response.status_code == 403
    assert await Post.find(Post.content == "forged").count() == 0


async def test_empty_post_gets_a_422_partial(signed_in: httpx.AsyncClient) -> None:
    headers = await hx_headers(signed_in)
    response = await signed_in.post("/posts", data={"content": "   "}, headers=headers)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#post-form-errors"
    assert "Content cannot be empty." in response.text


async def test_oversized_post_gets_a_422_partial(signed_in: httpx.AsyncClient) -> None:
    headers = await hx_headers(signed_in)
    response = await signed_in.post("/posts", data={"content": "x" * 281}, headers=headers)
    assert response.status_code == 422
    assert "Content must be at most 280 characters." in response.text


async def test_list_is_a_page_or_a_partial(client: httpx.AsyncClient) -> None:
    await Post.insert_many([Post(content=f"post {i}") for i in range(12)])
    await feed_changed()  # bulk writes skip the model's hooks that refresh the cached feed
    page = await client.get("/posts")
    assert page.status_code == 200
    assert "<html" in page.text and 'id="post-list"' in page.text
    partial = await client.get("/posts", headers=HX)
    assert "<html" not in partial.text
    assert partial.text.count("data-post") == 10
    assert 'id="load-more" class="flex justify-center" hx-swap-oob="true"' in partial.text


async def test_load_more_follows_the_cursor(client: httpx.AsyncClient) -> None:
    first = await Post.find().sort(-Post.id).limit(1).to_list()
    response = await client.get(f"/posts?before={first[0].id}", headers=HX)
    assert response.status_code == 200
    assert f"post-{first[0].id}" not in response.text


async def test_bad_cursor_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/posts?before=not-an-id", headers=HX)
    assert response.status_code == 422


async def test_new_posts_are_broadcast_to_live_feeds(signed_in: httpx.AsyncClient) -> None:
    headers = await hx_headers(signed_in)
    async with get_broadcaster().subscribe("posts") as feed:
        await signed_in.post("/posts", data={"content": "Live from a test"}, headers=headers)
        event = await feed.next(within=5)
    assert event is not None and event.event is None
    assert "Live from a test" in event.data and 'id="post-' in event.data


def _another_browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _write(client: httpx.AsyncClient, content: str) -> Post:
    await client.post("/posts", data={"content": content}, headers=await hx_headers(client))
    post = await Post.find_one(Post.content == content)
    assert post is not None
    return post


async def test_the_author_edits_a_post_in_place(signed_in: httpx.AsyncClient) -> None:
    post = await _write(signed_in, "First draft")
    feed = await signed_in.get("/posts")
    assert f'href="/posts/{post.id}/edit"' in feed.text, "authors see an Edit button"
    headers = await hx_headers(signed_in)
    form = await signed_in.get(f"/posts/{post.id}/edit", headers=headers)
    assert form.status_code == 200 and "<html" not in form.text
    assert "First draft</textarea>" in form.text
    saved = await signed_in.post(
        f"/posts/{post.id}", data={"content": "  Second draft  "}, headers=headers
    )
    assert saved.status_code == 200 and "<html" not in saved.text
    assert "Second draft" in saved.text and "data-edited" in saved.text
    stored = await Post.get(post.id)
    assert stored is not None and stored.content == "Second draft" and stored.edited_at
    cancel = await signed_in.get(f"/posts/{post.id}", headers=headers)
    assert cancel.status_code == 200 and "Second draft" in cancel.text


async def test_editing_without_htmx_is_a_page_and_a_redirect(signed_in: httpx.AsyncClient) -> None:
    post = await _write(signed_in, "Plain form")
    page = await signed_in.get(f"/posts/{post.id}/edit")
    assert page.status_code == 200 and "<html" in page.text
    token = csrf_token_of(page.text)
    saved = await signed_in.post(
        f"/posts/{post.id}", data={"content": "Edited by form", "csrf_token": token}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/posts#post-{post.id}"
    assert (await Post.get(post.id)).content == "Edited by form"  # type: ignore[union-attr]
    assert (await signed_in.get(f"/posts/{post.id}")).status_code == 303


async def test_only_the_author_may_edit(
    signed_in: httpx.AsyncClient, vibetuner_app: FastAPI
) -> None:
    post = await _write(signed_in, "Mine alone")
    async with _another_browser(vibetuner_app) as other:
        await sign_in_as(other, "other@example.com", name="Other")
        feed = await other.get("/posts")
        assert f'href="/posts/{post.id}/edit"' not in feed.text
        headers = await hx_headers(other)
        form = await other.get(f"/posts/{post.id}/edit", headers=headers)
        saved = await other.post(f"/posts/{post.id}", data={"content": "Hijacked"}, headers=headers)
    assert form.status_code == 403 and saved.status_code == 403
    assert "You can only edit or delete your own posts." in saved.text
    assert (await Post.get(post.id)).content == "Mine alone"  # type: ignore[union-attr]


async def test_visitors_are_sent_to_sign_in_before_editing(
    signed_in: httpx.AsyncClient, vibetuner_app: FastAPI
) -> None:
    post = await _write(signed_in, "Not for visitors")
    async with _another_browser(vibetuner_app) as visitor:
        page = await visitor.get(f"/posts/{post.id}/edit")
        partial = await visitor.post(f"/posts/{post.id}", data={"content": "x"}, headers=HX)
    assert page.status_code == 303
    assert page.headers["location"] == f"/auth/login?next=/posts/{post.id}/edit"
    assert partial.status_code == 401 and partial.headers["HX-Redirect"].startswith("/auth/login")


async def test_bad_edits_get_clear_errors(signed_in: httpx.AsyncClient) -> None:
    post = await _write(signed_in, "Keep me")
    headers = await hx_headers(signed_in)
    empty = await signed_in.post(f"/posts/{post.id}", data={"content": " "}, headers=headers)
    assert empty.status_code == 422 and "Content cannot be empty." in empty.text
    assert "<form" in empty.text and "<html" not in empty.text
    missing = await signed_in.get("/posts/65a000000000000000000000/edit", headers=headers)
    assert missing.status_code == 404
    malformed = await signed_in.get("/posts/not-an-id/edit", headers=headers)
    assert 400 <= malformed.status_code < 500
    assert (await Post.get(post.id)).content == "Keep me"  # type: ignore[union-attr]


async def test_admins_see_the_admin_and_the_debug_console(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "writer2@example.com")
    page = await client.get("/", headers={"Accept": "text/html"})
    assert 'data-nav="admin"' not in page.text and 'data-nav="debug"' not in page.text
    assert (await client.get("/admin")).status_code == 404
    await sign_in_as(client, "boss@example.com", roles=["admin"])
    page = await client.get("/", headers={"Accept": "text/html"})
    assert 'href="/admin"' in page.text and 'href="/_debug"' in page.text
    assert (await client.get("/admin")).status_code == 200
