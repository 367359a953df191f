"""The message, the provider interface every backend implements, and delivery errors."""

from __future__ import annotations

import email.message
import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable

from vibetuner.exceptions import VibetunerError

Addresses = str | Sequence[str]
Context = Mapping[str, Any] | None


class EmailOptions(TypedDict, total=False):
    """An email's keywords: `subject` (else the template's `subject` block), a Reply-To
    address and extra headers."""

    subject: str | None
    reply_to: str | None
    headers: Mapping[str, str] | None


class EmailError(VibetunerError):
    """Anything that stopped an email from being built or sent."""


class EmailTemplateError(EmailError):
    """An email template is missing, or has no subject."""


class EmailDeliveryError(EmailError):
    """A provider refused or could not take the message; names the provider and status."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, fix=fix)
        self.provider = provider
        self.status = status


def _no_line_breaks(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"Email {name} must not contain line breaks (header injection)")


@dataclass(slots=True)
class EmailMessage:
    """One rendered email, independent of how it is delivered."""

    to: list[str]
    subject: str
    html: str
    text: str
    from_: str
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.to:
            raise ValueError("An email needs at least one recipient")
        for address in (*self.to, self.from_, self.reply_to or ""):
            _no_line_breaks("addresses", address)
        _no_line_breaks("subject", self.subject)
        for name, value in self.headers.items():
            _no_line_breaks("headers", f"{name}{value}")

    def to_mime(self) -> email.message.EmailMessage:
        """A standard RFC 5322 message: multipart/alternative with text then HTML."""
        import email.policy  # heavy (0.6 MB, 5 ms): loads with the first message, not at startup

        mime = email.message.EmailMessage(policy=email.policy.default)
        mime["From"] = self.from_
        mime["To"] = ", ".join(self.to)
        mime["Subject"] = self.subject
        mime["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        mime["Message-ID"] = email.utils.make_msgid(domain=_domain_of(self.from_))
        if self.reply_to:
            mime["Reply-To"] = self.reply_to
        for name, value in self.headers.items():
            mime[name] = value
        mime.set_content(self.text)
        mime.add_alternative(self.html, subtype="html")
        return mime


def _domain_of(address: str) -> str | None:
    _name, addr = email.utils.parseaddr(address)
    return addr.rpartition("@")[2] or None


@runtime_checkable
class EmailProvider(Protocol):
    """The one seam every backend implements: deliver a message or raise EmailDeliveryError."""

    name: str

    async def send(self, message: EmailMessage) -> None: ...


class MultiProvider:
    """Fan a message out to several providers (dev: console and outbox together)."""

    def __init__(self, providers: Sequence[EmailProvider]) -> None:
        if not providers:
            raise ValueError("MultiProvider needs at least one provider")
        self.providers = list(providers)
        self.name = "+".join(provider.name for provider in self.providers)

    async def send(self, message: EmailMessage) -> None:
        """Try every provider; if any failed, raise the first failure afterwards."""
        failures: list[Exception] = []
        for provider in self.providers:
            try:
                await provider.send(message)
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
