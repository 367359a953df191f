"""Sign in to the app under test the way a person does: a magic link from the outbox."""

import re
import time
from email import message_from_bytes
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench._servers import Running

EMAIL = "bench@example.com"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"|"X-CSRF-Token"\] = "([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    if match is None:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1) or match.group(2)


def _newest_link(outbox: Path, seen: set[Path], timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = sorted(set(outbox.glob("*.eml")) - seen)
        if fresh:
            message = message_from_bytes(fresh[-1].read_bytes())
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    text = part.get_payload(decode=True)
                    found = re.search(
                        rb"https?://\S+/auth/magic/\S+", bytes(text or b"")
                    )
                    if found:
                        return found.group(0).decode()
        time.sleep(0.05)
    raise RuntimeError(f"no sign-in email arrived in {outbox}")


def sign_in(server: Running, outbox: Path) -> httpx.Client:
    """A client holding a signed-in session cookie (the app runs with COOKIE_SECURE=false)."""
    client = httpx.Client(base_url=server.url(""), timeout=10, follow_redirects=False)
    login = client.get("/auth/login")
    seen = set(outbox.glob("*.eml"))
    sent = client.post(
        "/auth/magic-link", data={"email": EMAIL, "csrf_token": csrf_of(login.text)}
    )
    if sent.status_code != 200:
        raise RuntimeError(f"POST /auth/magic-link answered {sent.status_code}")
    link = _newest_link(outbox, seen)
    parts = urlsplit(link)  # BASE_URL need not carry the benchmark's port
    page = client.get(parts.path)  # opening a link only shows the confirm page
    if page.status_code == 303 and "/auth/login" not in page.headers.get(
        "location", ""
    ):
        return client  # an older baseline (BENCH_BASE) signs in on opening the link
    if page.status_code != 200:
        raise RuntimeError(f"opening the sign-in link answered {page.status_code}")
    token = TOKEN.search(page.text)
    if token is None:
        raise RuntimeError("the sign-in link's page has no confirm form")
    form = {"token": token.group(1), "csrf_token": csrf_of(page.text)}
    opened = client.post("/auth/magic", data=form)  # the confirm page's button
    if opened.status_code != 303:
        raise RuntimeError(f"confirming the sign-in answered {opened.status_code}")
    return client


def cookie_header(client: httpx.Client) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}
