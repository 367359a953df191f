import re

import httpx


async def test_home_page_links_the_bundles(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "/css/bundle.css" in response.text
    assert "/js/bundle.js" in response.text


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/ping")).json() == {"status": "ok"}
    assert (await client.get("/health/ready")).status_code == 200


async def test_unknown_page_is_a_friendly_404_said_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    main = re.search(r"<main\b.*?</main>", response.text, re.S)
    assert main and main.group(0).count("does not exist") == 1
    assert "Not Found" not in main.group(0), "no title that repeats the sentence"


async def test_every_page_has_the_apps_footer(client: httpx.AsyncClient) -> None:
    """templates/base/layout.html.jinja reaches the framework's pages too."""
    for path in ("/", "/auth/login", "/no-such-page"):
        page = await client.get(path, headers={"Accept": "text/html"})
        footer = re.search(r"<footer\b.*?</footer>", page.text, re.S)
        assert footer and "data-footer" in footer.group(0), path
        assert "Built with" in footer.group(0), f"{path}: a footer that says more than a name"
