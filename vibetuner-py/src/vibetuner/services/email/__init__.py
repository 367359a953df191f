"""Email: render templates, deliver through SMTP, Resend or Mailjet, or keep them locally in dev.

    from vibetuner.services.email import send_email
    await send_email("ada@example.com", "welcome", {"name": "Ada"})

Heavy dependencies (jinja2, httpx, aiosmtplib) load only when a message is rendered or sent.

EmailError (VibetunerError)
├── EmailTemplateError   a template is missing or has no subject
└── EmailDeliveryError   a provider refused the message or could not be reached
"""

from __future__ import annotations

from vibetuner.services.email._base import (
    EmailDeliveryError,
    EmailError,
    EmailMessage,
    EmailProvider,
    EmailTemplateError,
    MultiProvider,
)
from vibetuner.services.email._factory import (
    build_provider,
    check_email_config,
    email_problems,
    get_email_service,
    outbox_dir,
    reset_email_service,
    resolve_provider_name,
    send_email,
)
from vibetuner.services.email._http import MailjetProvider, ResendProvider
from vibetuner.services.email._local import ConsoleProvider, OutboxProvider
from vibetuner.services.email._service import EmailService
from vibetuner.services.email._smtp import SMTPProvider

__all__ = [
    "ConsoleProvider",
    "EmailDeliveryError",
    "EmailError",
    "EmailMessage",
    "EmailProvider",
    "EmailService",
    "EmailTemplateError",
    "MailjetProvider",
    "MultiProvider",
    "OutboxProvider",
    "ResendProvider",
    "SMTPProvider",
    "build_provider",
    "check_email_config",
    "email_problems",
    "get_email_service",
    "outbox_dir",
    "reset_email_service",
    "resolve_provider_name",
    "send_email",
]
