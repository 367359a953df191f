"""EmailService: templates in, a message out, through a real provider (the outbox)."""

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from vibetuner.config import get_settings
from vibetuner.services.email import (
    EmailService,
    EmailTemplateError,
    OutboxProvider,
    get_email_service,
    outbox_dir,
    send_email,
)

pytest_plugins = ["tests.services.email_support"]

LINK = "http://127.0.0.1:8000/auth/magic?token=a&b=<c>"


def _service(tmp_path: Path) -> EmailService:
    return EmailService(OutboxProvider(tmp_path / "out"), mail_from="App <no-reply@app.test>")


async def test_renders_html_text_and_subject_from_the_template(
    email_templates: Path, tmp_path: Path
) -> None:
    service = _service(tmp_path)
    message = await service.send("ada@example.com", "welcome", {"name": "Ada", "link": LINK})
    assert message.subject == "Welcome to Vibetuner App, Ada"
    assert message.to == ["ada@example.com"]
    assert message.from_ == "App <no-reply@app.test>"
    assert 'href="http://127.0.0.1:8000/auth/magic?token=a&amp;b=&lt;c&gt;"' in message.html
    assert "<title>Welcome to Vibetuner App, Ada</title>" in message.html
    assert message.text == f"Hi Ada,\n\nSign in: {LINK}", "text is never HTML-escaped"
    [stored] = list((tmp_path / "out").iterdir())
    parsed = message_from_bytes(stored.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == message.subject


async def test_the_subject_is_plain_text(email_templates: Path, tmp_path: Path) -> None:
    """The subject block renders as HTML (escaped): the header gets the characters."""
    name = "Tom & Jerry's <Shop>"
    message = _service(tmp_path).render("ada@example.com", "welcome", {"name": name})
    assert message.subject == f"Welcome to Vibetuner App, {name}"
    assert "Tom &amp; Jerry&#39;s &lt;Shop&gt;" in message.html  # the body stays escaped


async def test_explicit_subject_wins(email_templates: Path, tmp_path: Path) -> None:
    message = _service(tmp_path).render(
        ["a@example.com", "b@example.com"],
        "nosubject",
        {"name": "x"},
        subject="Given",
        reply_to="help@app.test",
        headers={"X-Tag": "t"},
    )
    assert message.subject == "Given" and message.to == ["a@example.com", "b@example.com"]
    assert message.reply_to == "help@app.test" and message.headers == {"X-Tag": "t"}


def test_missing_subject_is_an_error(email_templates: Path, tmp_path: Path) -> None:
    with pytest.raises(EmailTemplateError, match="has no subject"):
        _service(tmp_path).render("a@example.com", "nosubject", {"name": "x"})


def test_missing_templates_are_an_error(email_templates: Path, tmp_path: Path) -> None:
    with pytest.raises(EmailTemplateError, match=r"emails/nope\.html\.jinja"):
        _service(tmp_path).render("a@example.com", "nope")
    with pytest.raises(EmailTemplateError, match=r"emails/htmlonly\.txt\.jinja"):
        _service(tmp_path).render("a@example.com", "htmlonly")


async def test_send_email_in_dev_prints_and_keeps_a_copy(
    email_templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = await send_email("ada@example.com", "welcome", {"name": "Ada", "link": LINK})
    assert LINK in capsys.readouterr().err
    directory = outbox_dir(get_settings())
    [stored] = list(directory.iterdir())
    parsed = message_from_bytes(stored.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == message.subject
    assert get_email_service() is get_email_service()
