"""SMTPProvider against a real aiosmtpd server: plain, STARTTLS, implicit TLS, and AUTH."""

from email.message import Message

import pytest

from tests.services.email_support import PASSWORD, USERNAME, SMTPSink
from vibetuner.server._net import free_port
from vibetuner.services.email import EmailDeliveryError, EmailMessage, SMTPProvider

pytest_plugins = ["tests.services.email_support"]


def _message() -> EmailMessage:
    return EmailMessage(
        to=["ada@example.com", "Grace <grace@example.com>"],
        subject="Your sign-in link",
        html='<p>Click <a href="http://x/magic">here</a></p>',
        text="Open http://x/magic\n",
        from_="App <no-reply@example.com>",
        reply_to="help@example.com",
    )


def _parts(message: Message) -> dict[str, str]:
    parts = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[part.get_content_type()] = payload.decode(
                part.get_content_charset() or "utf-8"
            ).replace("\r\n", "\n")
    return parts


def _assert_delivered(sink: SMTPSink) -> None:
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.mail_from == "no-reply@example.com"
    assert got.rcpt_tos == ["ada@example.com", "grace@example.com"]
    assert got.message["Subject"] == "Your sign-in link"
    assert got.message["From"] == "App <no-reply@example.com>"
    assert got.message["Reply-To"] == "help@example.com"
    assert got.message.get_content_type() == "multipart/alternative"
    parts = _parts(got.message)
    assert parts["text/plain"] == "Open http://x/magic\n"
    assert '<a href="http://x/magic">here</a>' in parts["text/html"]


async def test_plain_smtp_without_auth(smtp_sink: SMTPSink) -> None:
    await SMTPProvider(smtp_sink.host, smtp_sink.port, security="none").send(_message())
    _assert_delivered(smtp_sink)
    assert smtp_sink.received[0].login is None


async def test_plain_smtp_with_auth(smtp_sink: SMTPSink) -> None:
    provider = SMTPProvider(
        smtp_sink.host, smtp_sink.port, username=USERNAME, password=PASSWORD, security="none"
    )
    await provider.send(_message())
    _assert_delivered(smtp_sink)
    assert smtp_sink.received[0].login == USERNAME.encode()


async def test_wrong_password_is_a_delivery_error(smtp_sink: SMTPSink) -> None:
    provider = SMTPProvider(
        smtp_sink.host, smtp_sink.port, username=USERNAME, password="wrong", security="none"
    )
    with pytest.raises(EmailDeliveryError) as caught:
        await provider.send(_message())
    assert caught.value.provider == "smtp" and caught.value.status == 535
    assert "SMTP_PASSWORD" in str(caught.value)
    assert smtp_sink.received == []


async def test_starttls_with_auth(smtp_starttls_sink: SMTPSink) -> None:
    sink = smtp_starttls_sink
    provider = SMTPProvider(
        sink.host,
        sink.port,
        username=USERNAME,
        password=PASSWORD,
        security="starttls",
        tls_context=sink.client_tls,
    )
    await provider.send(_message())
    _assert_delivered(sink)
    assert sink.received[0].login == USERNAME.encode()


async def test_server_requiring_starttls_refuses_plain(smtp_starttls_sink: SMTPSink) -> None:
    sink = smtp_starttls_sink
    with pytest.raises(EmailDeliveryError) as caught:
        await SMTPProvider(sink.host, sink.port, security="none").send(_message())
    assert caught.value.status == 530


async def test_implicit_tls(smtp_ssl_sink: SMTPSink) -> None:
    sink = smtp_ssl_sink
    provider = SMTPProvider(sink.host, sink.port, security="ssl", tls_context=sink.client_tls)
    await provider.send(_message())
    _assert_delivered(sink)


async def test_untrusted_certificate_is_a_delivery_error(smtp_ssl_sink: SMTPSink) -> None:
    provider = SMTPProvider(smtp_ssl_sink.host, smtp_ssl_sink.port, security="ssl", timeout=5)
    with pytest.raises(EmailDeliveryError, match="SMTP_HOST"):
        await provider.send(_message())


async def test_nothing_listening_is_a_delivery_error() -> None:
    provider = SMTPProvider("127.0.0.1", free_port(), security="none", timeout=5)
    with pytest.raises(EmailDeliveryError) as caught:
        await provider.send(_message())
    assert caught.value.provider == "smtp" and caught.value.status is None
