"""A visitor with one cookie jar who can reach the cluster through Caddy or any instance.

Cookies are Secure in prod, so an HTTP client would not send them to an instance
directly; the visitor keeps its own jar and sends it everywhere, posing as the proxy
(X-Forwarded-Proto: https) on direct hits.
"""

from __future__ import annotations

import re
import time
from email.message import Message
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import httpx
from vibetuner.testing import MAGIC_CONFIRM, csrf_token_of, sign_in_form_of

from scale._cluster import FORWARDED_HTTPS, Cluster, Instance


class Visitor:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.jar: dict[str, str] = {}
        self.lb = httpx.Client(verify=cluster.tls(), timeout=15)
        self.direct = httpx.Client(timeout=15, headers=FORWARDED_HTTPS)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.jar.items())

    def request(
        self,
        method: str,
        path: str,
        *,
        via: Instance | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Through the load balancer, or straight to `via`."""
        client, base = (
            (self.lb, self.cluster.lb_url) if via is None else (self.direct, via.url)
        )
        sent = {**(headers or {}), **({"Cookie": self.cookie} if self.jar else {})}
        answer = client.request(method, base + path, headers=sent, data=data)
        for raw in answer.headers.get_list("set-cookie"):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(raw)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        return answer

    def get(self, path: str, **options: object) -> httpx.Response:
        return self.request("GET", path, **options)  # type: ignore[arg-type]

    def csrf(self, path: str = "/auth/login", via: Instance | None = None) -> str:
        return csrf_token_of(self.get(path, via=via).text)

    def ask_for_link(self, email: str, via: Instance | None = None) -> httpx.Response:
        """Request a sign-in link, taking the CSRF token from the same place."""
        token = self.csrf(via=via)
        form = {"email": email, "csrf_token": token}
        return self.request("POST", "/auth/magic-link", via=via, data=form)

    def close(self) -> None:
        self.lb.close()
        self.direct.close()


def messages_to(cluster: Cluster, email: str) -> list[Message]:
    return [m for m in list(cluster.smtp.messages) if email in str(m.get("To", ""))]


def link_for(cluster: Cluster, email: str, timeout: float = 20.0) -> str:
    """The path of the newest sign-in link mailed to `email`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(messages_to(cluster, email)):
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    text = (
                        payload.decode() if isinstance(payload, bytes) else str(payload)
                    )
                    found = re.search(r"https?://\S+/auth/magic/\S+", text)
                    if found:
                        return urlsplit(found.group(0)).path
        time.sleep(0.1)
    raise AssertionError(f"no sign-in email reached {email} in {timeout:.0f} s")


def sign_in(cluster: Cluster, email: str, via: Instance | None = None) -> Visitor:
    """A visitor signed in by magic link, every step through `via` (default: Caddy)."""
    visitor = Visitor(cluster)
    asked = visitor.ask_for_link(email, via=via)
    assert asked.status_code == 200, asked.text[:500]
    page = visitor.get(link_for(cluster, email), via=via)  # the confirm page
    assert page.status_code == 200, page.text[:500]
    opened = visitor.request(
        "POST", MAGIC_CONFIRM, via=via, data=sign_in_form_of(page.text)
    )
    assert opened.status_code == 303, opened.text[:500]
    return visitor
