"""Deliver through any SMTP server (a relay, a provider's SMTP endpoint, or a local sink)."""

from __future__ import annotations

import ssl
from typing import Literal

from vibetuner.services.email._base import EmailDeliveryError, EmailMessage

Security = Literal["starttls", "ssl", "none"]


class SMTPProvider:
    """One connection per message: simple, and safe across event loops and workers."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout
        self.tls_context = tls_context

    async def send(self, message: EmailMessage) -> None:
        import aiosmtplib  # aiosmtplib: only apps sending by SMTP

        try:
            await aiosmtplib.send(
                message.to_mime(),
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password if self.username else None,
                use_tls=self.security == "ssl",
                start_tls=self.security == "starttls",
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise EmailDeliveryError(
                f"The SMTP server {self.host}:{self.port} refused the message "
                f"({exc.code} {exc.message}).",
                provider=self.name,
                status=exc.code,
                fix=_fix_for(exc.code),
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise EmailDeliveryError(
                f"Could not deliver through the SMTP server {self.host}:{self.port}: {exc}",
                provider=self.name,
                fix="Check SMTP_HOST, SMTP_PORT and SMTP_SECURITY (starttls, ssl or none).",
            ) from exc


def _fix_for(code: int) -> str:
    if code in (530, 534, 535):
        return "Check SMTP_USERNAME and SMTP_PASSWORD."
    return "Check MAIL_FROM is a sender this server accepts, and the recipient address."
