"""Deliver through HTTP email APIs (Resend, Mailjet): no SMTP port needed on the host."""

from __future__ import annotations

import email.utils
from typing import Any

from vibetuner.services.email._base import EmailDeliveryError, EmailMessage

TIMEOUT_SECONDS = 30.0


async def _post_json(
    provider: str,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Any:
    """POST JSON and return the decoded answer; any failure becomes an EmailDeliveryError."""
    import httpx  # httpx: only apps sending by HTTP API

    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, auth=auth) as client:
            response = await client.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise EmailDeliveryError(
            f"{provider} could not be reached at {url}: {exc!r}",
            provider=provider,
            fix="Check the network and the provider's API URL setting.",
        ) from exc
    if response.status_code >= 400:
        detail = response.text.strip()[:300]
        raise EmailDeliveryError(
            f"{provider} refused the message (HTTP {response.status_code}): {detail}",
            provider=provider,
            status=response.status_code,
            fix=_fix_for(provider, response.status_code),
        )
    try:
        return response.json()
    except ValueError:
        return None


def _fix_for(provider: str, status: int) -> str | None:
    if status in (401, 403):
        return f"Check the {provider} API credentials."
    if status in (400, 422):
        return "Check MAIL_FROM is on a domain verified with the provider."
    return None


class ResendProvider:
    """Resend's send-email endpoint: POST /emails with a bearer API key."""

    name = "resend"

    def __init__(self, api_key: str, api_url: str = "https://api.resend.com") -> None:
        self.api_key = api_key
        self.api_url = api_url.rstrip("/")

    def payload(self, message: EmailMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "from": message.from_,
            "to": list(message.to),
            "subject": message.subject,
            "html": message.html,
            "text": message.text,
        }
        if message.reply_to:
            body["reply_to"] = message.reply_to
        if message.headers:
            body["headers"] = dict(message.headers)
        return body

    async def send(self, message: EmailMessage) -> None:
        await _post_json(
            self.name,
            f"{self.api_url}/emails",
            self.payload(message),
            headers={"Authorization": f"Bearer {self.api_key}"},
        )


def _mailjet_address(address: str) -> dict[str, str]:
    name, addr = email.utils.parseaddr(address)
    return {"Email": addr or address, "Name": name} if name else {"Email": addr or address}


class MailjetProvider:
    """Mailjet's Send API v3.1: POST /v3.1/send with basic auth (API key and secret)."""

    name = "mailjet"

    def __init__(
        self, api_key: str, api_secret: str, api_url: str = "https://api.mailjet.com"
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.api_url = api_url.rstrip("/")

    def payload(self, message: EmailMessage) -> dict[str, Any]:
        item: dict[str, Any] = {
            "From": _mailjet_address(message.from_),
            "To": [_mailjet_address(address) for address in message.to],
            "Subject": message.subject,
            "TextPart": message.text,
            "HTMLPart": message.html,
        }
        if message.reply_to:
            item["ReplyTo"] = _mailjet_address(message.reply_to)
        if message.headers:
            item["Headers"] = dict(message.headers)
        return {"Messages": [item]}

    async def send(self, message: EmailMessage) -> None:
        answer = await _post_json(
            self.name,
            f"{self.api_url}/v3.1/send",
            self.payload(message),
            auth=(self.api_key, self.api_secret),
        )
        statuses = [m.get("Status") for m in _messages(answer)]
        if any(status != "success" for status in statuses):
            raise EmailDeliveryError(
                f"mailjet did not accept the message (statuses: {statuses})",
                provider=self.name,
                fix="Check MAIL_FROM is a sender validated in Mailjet.",
            )


def _messages(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, dict) and isinstance(answer.get("Messages"), list):
        return [m for m in answer["Messages"] if isinstance(m, dict)]
    return []
