import httpx


async def test_home_page_links_the_bundles(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "/css/bundle.css" in response.text
    assert "/js/bundle.js" in response.text


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/ping")).json() == {"status": "ok"}
    assert (await client.get("/health/ready")).status_code == 200


async def test_unknown_page_is_a_friendly_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "does not exist" in response.text
