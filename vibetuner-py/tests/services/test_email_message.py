from email import message_from_bytes, policy

import pytest

from vibetuner.exceptions import VibetunerError
from vibetuner.services.email import (
    EmailDeliveryError,
    EmailMessage,
    EmailProvider,
    MultiProvider,
)


def _message(**overrides: object) -> EmailMessage:
    values: dict[str, object] = {
        "to": ["ada@example.com"],
        "subject": "Hello",
        "html": "<p>Hi &amp; welcome</p>",
        "text": "Hi & welcome",
        "from_": "App <no-reply@example.com>",
    }
    values.update(overrides)
    return EmailMessage(**values)  # type: ignore[arg-type]


def test_mime_is_multipart_alternative_text_then_html() -> None:
    mime = _message(reply_to="help@example.com", headers={"X-Tag": "signin"}).to_mime()
    parsed = message_from_bytes(mime.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert parsed["Subject"] == "Hello"
    assert parsed["From"] == "App <no-reply@example.com>"
    assert parsed["To"] == "ada@example.com"
    assert parsed["Reply-To"] == "help@example.com"
    assert parsed["X-Tag"] == "signin"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Date"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": []},
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"to": ["a@example.com\nBcc: b@example.com"]},
        {"headers": {"X-Evil": "1\r\nBcc: b@example.com"}},
    ],
)
def test_invalid_messages_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _message(**overrides)


def test_delivery_error_names_provider_and_status() -> None:
    error = EmailDeliveryError("refused", provider="resend", status=422, fix="Check it")
    assert isinstance(error, VibetunerError)
    assert (error.provider, error.status) == ("resend", 422)
    assert "Fix: Check it" in str(error)


class _Recording:
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
        if self.fail:
            raise EmailDeliveryError("down", provider=self.name)


async def test_multi_provider_fans_out_and_reports_failures_after_trying_all() -> None:
    first, broken, last = _Recording("a"), _Recording("b", fail=True), _Recording("c")
    multi = MultiProvider([first, broken, last])
    assert isinstance(multi, EmailProvider)
    assert multi.name == "a+b+c"
    with pytest.raises(EmailDeliveryError, match="down"):
        await multi.send(_message())
    assert len(first.sent) == len(broken.sent) == len(last.sent) == 1


def test_multi_provider_needs_providers() -> None:
    with pytest.raises(ValueError):
        MultiProvider([])
