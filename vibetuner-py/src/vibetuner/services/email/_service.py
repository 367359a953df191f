"""Render an email from templates and hand it to the configured provider."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Unpack

from markupsafe import Markup

from vibetuner.i18n import use_locale
from vibetuner.services.email._base import (
    Addresses,
    Context,
    EmailMessage,
    EmailOptions,
    EmailProvider,
    EmailTemplateError,
)

if TYPE_CHECKING:
    import jinja2

    from vibetuner.rendering import Templates


class EmailService:
    """`emails/<name>.html.jinja` and `.txt.jinja` in, one delivered message out."""

    def __init__(
        self, provider: EmailProvider, *, mail_from: str, templates: Templates | None = None
    ) -> None:
        self.provider = provider
        self.mail_from = mail_from
        self._templates = templates
        self._text_env: jinja2.Environment | None = None

    @property
    def templates(self) -> Templates:
        if self._templates is None:
            from vibetuner.rendering import get_templates  # jinja2: loads with the first email

            self._templates = get_templates()
        return self._templates

    def _text_environment(self) -> jinja2.Environment:
        """Same loader and globals, no HTML escaping, its own cache: plain text stays plain."""
        if self._text_env is None:
            self._text_env = self.templates.env.overlay(autoescape=False, cache_size=100)
        return self._text_env

    def render(
        self, to: Addresses, template: str, context: Context = None, **options: Unpack[EmailOptions]
    ) -> EmailMessage:
        """Build the message without sending it (previews, tests, queued jobs).

        A `locale` in the context (e.g. "es") renders it in that language.
        """
        import jinja2  # jinja2: loads with the first email

        subject, values = options.get("subject"), dict(context or {})
        html_name, text_name = f"emails/{template}.html.jinja", f"emails/{template}.txt.jinja"
        locale = values.get("locale")
        with use_locale(str(locale)) if locale else contextlib.nullcontext():
            try:
                html = self.templates.render_to_string(html_name, values)
                text = self._text_environment().get_template(text_name).render(values)
            except jinja2.TemplateNotFound as exc:
                raise EmailTemplateError(
                    f"Email template {exc.name} was not found.",
                    fix=f"Create templates/{html_name} and templates/{text_name}.",
                ) from exc
            if subject is None:
                subject = self._subject(html_name, values)
        return EmailMessage(
            to=[to] if isinstance(to, str) else list(to),
            subject=subject,
            html=html,
            text=text,
            from_=self.mail_from,
            reply_to=options.get("reply_to"),
            headers=dict(options.get("headers") or {}),
        )

    def _subject(self, html_name: str, values: dict[str, Any]) -> str:
        import jinja2  # jinja2: loads with the first email

        try:
            raw = self.templates.render_to_string(html_name, values, block="subject")
        except jinja2.TemplateError:
            raw = ""
        # Rendered as HTML (escaped, maybe tagged): the header wants its plain text, one line.
        subject = Markup(raw).striptags()  # noqa: S704 (the autoescaped render: markup)
        if not subject:
            raise EmailTemplateError(
                f"Email template {html_name} has no subject.",
                fix="Add {% block subject %}...{% endblock %} to it, or pass subject=...",
            )
        return subject

    async def send(
        self, to: Addresses, template: str, context: Context = None, **options: Unpack[EmailOptions]
    ) -> EmailMessage:
        """Render and deliver; returns the message that was sent."""
        message = self.render(to, template, context, **options)
        await self.provider.send(message)
        return message
