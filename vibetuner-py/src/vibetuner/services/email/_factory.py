"""Pick the email provider from settings: explicit choice first, then whatever is configured."""

from __future__ import annotations

import functools
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.services.email._base import (
    Addresses,
    Context,
    EmailMessage,
    EmailOptions,
    EmailProvider,
    MultiProvider,
)
from vibetuner.services.email._http import MailjetProvider, ResendProvider
from vibetuner.services.email._local import ConsoleProvider, OutboxProvider
from vibetuner.services.email._service import EmailService
from vibetuner.services.email._smtp import SMTPProvider

if TYPE_CHECKING:
    from pydantic import SecretStr

    from vibetuner.config import Settings
    from vibetuner.services.email._service import EmailService

NOTHING_CONFIGURED_FIX = (
    "Set SMTP_HOST (or RESEND_API_KEY, or MAILJET_API_KEY and MAILJET_API_SECRET)"
)


def outbox_dir(settings: Settings) -> Path:
    """Where the outbox keeps its .eml files (under the project's state folder)."""
    return settings.state_dir / "outbox"


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _configured(settings: Settings) -> str | None:
    """The provider `auto` resolves to, or None when nothing is configured."""
    if settings.smtp_host:
        return "smtp"
    if _secret(settings.resend_api_key):
        return "resend"
    if settings.mailjet_api_key and _secret(settings.mailjet_api_secret):
        return "mailjet"
    return None


def email_problems(settings: Settings) -> list[tuple[str, str]]:
    """Everything that stops mail from going out: (what is wrong, the settings that fix it)."""
    problems: list[tuple[str, str]] = []
    choice = settings.email_provider
    if choice == "auto" and settings.is_prod and _configured(settings) is None:
        problems.append(("No email provider is configured (sign-in links go out by email).",
                         NOTHING_CONFIGURED_FIX.removeprefix("Set ")))  # fmt: skip
    every: dict[str, dict[str, str | None]] = {
        "smtp": {"SMTP_HOST": settings.smtp_host},
        "resend": {"RESEND_API_KEY": _secret(settings.resend_api_key)},
        "mailjet": {"MAILJET_API_KEY": settings.mailjet_api_key,
                    "MAILJET_API_SECRET": _secret(settings.mailjet_api_secret)},
    }  # fmt: skip
    needs = every.get(choice, {})
    missing = [name for name, value in needs.items() if not value]
    if missing:
        problems.append((f"EMAIL_PROVIDER is {choice!r} but it is not configured "
                         f"({' and '.join(missing)} not set).", " and ".join(missing)))  # fmt: skip
    if _configured(settings) == "smtp" or choice == "smtp":
        if settings.smtp_username and not _secret(settings.smtp_password):
            problems.append(("SMTP_USERNAME is set without SMTP_PASSWORD.", "SMTP_PASSWORD"))
        if _secret(settings.smtp_password) and not settings.smtp_username:
            problems.append(("SMTP_PASSWORD is set without SMTP_USERNAME.", "SMTP_USERNAME"))
    if "@" not in parseaddr(settings.mail_from)[1].strip("@"):
        problems.append(
            ("MAIL_FROM is not an email address.", 'MAIL_FROM="App <no-reply@your-domain>"')
        )
    return problems


def resolve_provider_name(settings: Settings) -> str:
    """The provider that will be used: "smtp", "resend", "mailjet", "console", "outbox"
    or "console+outbox"; raises ConfigError, naming every problem, when it cannot work."""
    problems = email_problems(settings)
    if problems:
        raise ConfigError.from_problems(problems)
    choice = settings.email_provider
    if choice == "auto":
        return _configured(settings) or "console+outbox"
    return choice


def check_email_config(settings: Settings) -> str:
    """Validate email settings (startup, `vibetuner doctor`); return a one-line summary."""
    name = resolve_provider_name(settings)
    if name == "smtp":
        return f"smtp ({settings.smtp_host}:{settings.smtp_port}, {settings.smtp_security})"
    if name in ("resend", "mailjet"):
        return f"{name} ({getattr(settings, f'{name}_api_url')})"
    if "outbox" in name:
        return f"{name} ({outbox_dir(settings)})"
    return name


def build_provider(settings: Settings) -> EmailProvider:
    """A provider instance for the resolved choice."""
    name = resolve_provider_name(settings)
    if name == "smtp":
        assert settings.smtp_host is not None
        return SMTPProvider(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=_secret(settings.smtp_password) or None,
            security=settings.smtp_security,
        )
    if name == "resend":
        return ResendProvider(_secret(settings.resend_api_key), settings.resend_api_url)
    if name == "mailjet":
        assert settings.mailjet_api_key is not None
        return MailjetProvider(
            settings.mailjet_api_key,
            _secret(settings.mailjet_api_secret),
            settings.mailjet_api_url,
        )
    outbox = OutboxProvider(outbox_dir(settings))
    if name == "outbox":
        return outbox
    if name == "console":
        return ConsoleProvider()
    return MultiProvider([ConsoleProvider(), outbox])


@functools.cache
def get_email_service() -> EmailService:
    """The process's email service, built from settings on first use."""
    settings = get_settings()
    return EmailService(build_provider(settings), mail_from=settings.mail_from)


def reset_email_service() -> None:
    """Forget the cached service (tests, or after settings change)."""
    get_email_service.cache_clear()


async def send_email(
    to: Addresses, template: str, context: Context = None, **options: Unpack[EmailOptions]
) -> EmailMessage:
    """Shortcut for `get_email_service().send(...)`."""
    return await get_email_service().send(to, template, context, **options)
