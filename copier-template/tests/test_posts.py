import httpx

from app.models import Post

HX = {"HX-Request": "true"}


async def test_create_post_returns_the_new_item(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", data={"content": "Hello from a test"}, headers=HX)
    assert response.status_code == 200
    assert "Hello from a test" in response.text
    assert "<html" not in response.text
    assert response.headers["HX-Trigger"] == "post-created"
    assert await Post.find(Post.content == "Hello from a test").count() == 1


async def test_empty_post_gets_a_422_partial(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", data={"content": "   "}, headers=HX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#post-form-errors"
    assert "at least 1 character" in response.text


async def test_oversized_post_gets_a_422_partial(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", data={"content": "x" * 281}, headers=HX)
    assert response.status_code == 422
    assert "at most 280 characters" in response.text


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
