"""Passkey ceremonies driven the way the page's script drives them, with a software
authenticator that signs real WebAuthn answers (vibetuner.testing.SoftAuthenticator)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.frontend.auth_support import BASE
from vibetuner.testing import SoftAuthenticator, csrf_token_of


def json_headers(token: str) -> dict[str, str]:
    return {"Accept": "application/json", "X-CSRF-Token": token}


def authenticator(origin: str = BASE) -> SoftAuthenticator:
    return SoftAuthenticator(origin=origin)


def stranger() -> SoftAuthenticator:
    """An authenticator holding a passkey for this site that the site never registered."""
    device = authenticator()
    device.create({"rp": {"id": "testserver"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
    return device


async def token_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.status_code
    return csrf_token_of(page.text)


async def registration_options(
    client: httpx.AsyncClient, name: str = "Laptop"
) -> tuple[str, httpx.Response]:
    token = await token_of(client, "/account/passkeys")
    response = await client.post(
        "/account/passkeys/options", json={"name": name}, headers=json_headers(token)
    )
    return token, response


async def register(
    client: httpx.AsyncClient, device: SoftAuthenticator, name: str = "Laptop", **answer: Any
) -> httpx.Response:
    """Add a passkey on the account page, as the page's script does."""
    token, options = await registration_options(client, name)
    assert options.status_code == 200, options.text
    created = device.create(options.json(), **answer)
    return await client.post(
        "/account/passkeys",
        json={"name": name, "credential": created},
        headers=json_headers(token),
    )


async def sign_in_options(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    """Open the sign-in page and ask for a challenge, as the page does on load."""
    token = await token_of(client, "/auth/login")
    options = await client.post("/auth/passkey/options", json={}, headers=json_headers(token))
    assert options.status_code == 200, options.text
    return token, options.json()


async def send_answer(
    client: httpx.AsyncClient, token: str, answer: dict[str, Any], next_url: str = "/account"
) -> httpx.Response:
    return await client.post(
        "/auth/passkey",
        json={"credential": answer, "next": next_url},
        headers=json_headers(token),
    )


async def sign_in_with(
    client: httpx.AsyncClient, device: SoftAuthenticator, **answer: Any
) -> httpx.Response:
    """Sign in with a passkey: the challenge, the authenticator's answer, the server's word."""
    token, options = await sign_in_options(client)
    return await send_answer(client, token, device.get(options, **answer))
