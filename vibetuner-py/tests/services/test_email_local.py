import io
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from vibetuner.services.email import ConsoleProvider, EmailMessage, OutboxProvider
from vibetuner.services.email._local import (
    OUTBOX_ID,
    body_part,
    list_outbox,
    outbox_ids,
    outbox_path,
    read_outbox,
)

LINK = "http://127.0.0.1:8000/auth/magic/abc123"


def _message(subject: str = "Sign in") -> EmailMessage:
    return EmailMessage(
        to=["ada@example.com"],
        subject=subject,
        html=f'<a href="{LINK}">Sign in</a>',
        text=f"Sign in: {LINK}\n",
        from_="no-reply@example.com",
    )


async def test_console_prints_recipient_subject_and_link(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ConsoleProvider().send(_message())
    err = capsys.readouterr().err
    assert "ada@example.com" in err and "Subject: Sign in" in err and LINK in err


async def test_console_writes_to_a_given_stream() -> None:
    stream = io.StringIO()
    await ConsoleProvider(stream).send(_message())
    assert LINK in stream.getvalue()


async def test_outbox_writes_a_parseable_eml(tmp_path: Path) -> None:
    outbox = OutboxProvider(tmp_path / "outbox")
    await outbox.send(_message())
    files = list((tmp_path / "outbox").iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    assert OUTBOX_ID.fullmatch(files[0].stem)
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Sign in" and parsed["To"] == "ada@example.com"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert LINK in plain.get_content() and f'href="{LINK}"' in html.get_content()


def test_outbox_lists_newest_first_and_reads_back(tmp_path: Path) -> None:
    outbox = OutboxProvider(tmp_path)
    paths = [outbox.write(_message(f"Message {i}")) for i in range(3)]
    assert sorted(paths) == paths, "file names sort by time"
    entries = list_outbox(tmp_path)
    assert [e.subject for e in entries] == ["Message 2", "Message 1", "Message 0"]
    assert entries[0].to == "ada@example.com" and entries[0].date
    assert list_outbox(tmp_path, limit=1)[0].subject == "Message 2"
    message = read_outbox(tmp_path, entries[0].id)
    assert message is not None
    assert body_part(message, "plain") == f"Sign in: {LINK}\n"
    assert LINK in (body_part(message, "html") or "")


def test_outbox_ignores_foreign_files_and_rejects_bad_ids(tmp_path: Path) -> None:
    outbox = OutboxProvider(tmp_path / "outbox")
    good = outbox.write(_message()).stem
    (tmp_path / "outbox" / "notes.eml").write_text("x")
    (tmp_path / "secret.eml").write_text("x")
    assert outbox_ids(tmp_path / "outbox") == [good]
    assert outbox_ids(tmp_path / "missing") == []
    for bad in (
        "notes",
        "../secret",
        "..",
        "",
        f"{good}/../{good}",
        "20000101T000000000000Z-00000000",
    ):
        assert outbox_path(tmp_path / "outbox", bad) is None
        assert read_outbox(tmp_path / "outbox", bad) is None
    assert outbox_path(tmp_path / "outbox", good) is not None
