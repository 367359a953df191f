"""Which provider runs: an explicit EMAIL_PROVIDER wins, then whatever is configured."""

import pytest

from vibetuner.config import get_settings, reset_settings
from vibetuner.exceptions import ConfigError
from vibetuner.services.email import (
    ConsoleProvider,
    MailjetProvider,
    MultiProvider,
    OutboxProvider,
    ResendProvider,
    SMTPProvider,
    build_provider,
    check_email_config,
    get_email_service,
    reset_email_service,
    resolve_provider_name,
)

pytest_plugins = ["tests.services.email_support"]


def _with(env: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        env.setenv(name.upper(), value)
    reset_settings()


def test_dev_without_configuration_uses_console_and_outbox(email_env: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    provider = build_provider(settings)
    assert isinstance(provider, MultiProvider)
    assert [type(p) for p in provider.providers] == [ConsoleProvider, OutboxProvider]
    outbox = provider.providers[1]
    assert isinstance(outbox, OutboxProvider)
    assert outbox.directory == settings.state_dir / "outbox"
    assert check_email_config(settings) == f"console+outbox ({settings.state_dir / 'outbox'})"


def test_prod_without_configuration_refuses(email_env: pytest.MonkeyPatch) -> None:
    _with(email_env, environment="prod")
    with pytest.raises(ConfigError, match="No email provider is configured") as caught:
        check_email_config(get_settings())
    assert "Set SMTP_HOST (or RESEND_API_KEY, or MAILJET_API_KEY and MAILJET_API_SECRET)" in (
        caught.value.fix or ""
    )


def test_auto_prefers_smtp(email_env: pytest.MonkeyPatch) -> None:
    _with(
        email_env,
        environment="prod",
        smtp_host="mail.example.com",
        smtp_port="2525",
        smtp_username="u",
        smtp_password="p",
        smtp_security="ssl",
        resend_api_key="re_x",
    )
    provider = build_provider(get_settings())
    assert isinstance(provider, SMTPProvider)
    assert (provider.host, provider.port, provider.security) == ("mail.example.com", 2525, "ssl")
    assert (provider.username, provider.password) == ("u", "p")
    assert check_email_config(get_settings()) == "smtp (mail.example.com:2525, ssl)"


def test_auto_then_resend(email_env: pytest.MonkeyPatch) -> None:
    _with(email_env, resend_api_key="re_x", resend_api_url="http://r.test/", mailjet_api_key="k")
    provider = build_provider(get_settings())
    assert isinstance(provider, ResendProvider)
    assert (provider.api_key, provider.api_url) == ("re_x", "http://r.test")


def test_auto_then_mailjet_needs_key_and_secret(email_env: pytest.MonkeyPatch) -> None:
    _with(email_env, environment="prod", mailjet_api_key="k")
    with pytest.raises(ConfigError):
        resolve_provider_name(get_settings())
    _with(email_env, mailjet_api_secret="s")
    provider = build_provider(get_settings())
    assert isinstance(provider, MailjetProvider)
    assert (provider.api_key, provider.api_secret) == ("k", "s")
    assert check_email_config(get_settings()) == "mailjet (https://api.mailjet.com)"


@pytest.mark.parametrize(
    ("choice", "expected"), [("console", ConsoleProvider), ("outbox", OutboxProvider)]
)
def test_explicit_local_choice_wins_even_when_smtp_is_set(
    email_env: pytest.MonkeyPatch, choice: str, expected: type
) -> None:
    _with(email_env, email_provider=choice, smtp_host="mail.example.com")
    assert isinstance(build_provider(get_settings()), expected)


def test_explicit_resend_wins_over_smtp(email_env: pytest.MonkeyPatch) -> None:
    _with(email_env, email_provider="resend", resend_api_key="k", smtp_host="mail.example.com")
    assert isinstance(build_provider(get_settings()), ResendProvider)


@pytest.mark.parametrize(
    ("choice", "fix"),
    [
        ("smtp", "SMTP_HOST"),
        ("resend", "RESEND_API_KEY"),
        ("mailjet", "MAILJET_API_KEY and MAILJET_API_SECRET"),
    ],
)
def test_explicit_choice_must_be_configured(
    email_env: pytest.MonkeyPatch, choice: str, fix: str
) -> None:
    _with(email_env, email_provider=choice)
    with pytest.raises(ConfigError, match="not configured") as caught:
        check_email_config(get_settings())
    assert fix in (caught.value.fix or "")


def test_service_is_cached_until_reset(email_env: pytest.MonkeyPatch) -> None:
    _with(email_env, mail_from="App <hi@app.test>", email_provider="console")
    service = get_email_service()
    assert service is get_email_service()
    assert service.mail_from == "App <hi@app.test>"
    assert isinstance(service.provider, ConsoleProvider)
    _with(email_env, email_provider="outbox")
    reset_email_service()
    assert isinstance(get_email_service().provider, OutboxProvider)
