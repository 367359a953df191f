import httpx
from vibetuner.services.broadcast import get_broadcaster
from vibetuner.testing import csrf_token_of

from app.models import Post

HX = {"HX-Request": "true"}


async def hx_headers(client: httpx.AsyncClient) -> dict[str, str]:
    page = await client.get("/posts")
    return {**HX, "X-CSRF-Token": csrf_token_of(page.text)}


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
