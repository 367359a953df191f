"""Development providers: print to the terminal, or keep real .eml files in an outbox folder."""

from __future__ import annotations

import asyncio
import email.message
import os
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import TextIO

from vibetuner.services.email._base import EmailMessage

OUTBOX_ID = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")
OUTBOX_SUFFIX = ".eml"


class ConsoleProvider:
    """Print who, what and the text part, so a sign-in link is clickable in the terminal."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, message: EmailMessage) -> None:
        stream = self._stream or sys.stderr
        rule = "-" * 72
        lines = [
            rule,
            f"Email to {', '.join(message.to)} from {message.from_}",
            f"Subject: {message.subject}",
            rule,
            message.text.rstrip(),
            rule,
        ]
        stream.write("\n".join(lines) + "\n")
        stream.flush()


class OutboxProvider:
    """Write each message as an .eml file named by UTC time, so names sort oldest to newest."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self.write, message)

    def write(self, message: EmailMessage) -> Path:
        """Write atomically (temporary file, then rename) and return the file's path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}{OUTBOX_SUFFIX}"
        partial = path.with_suffix(".part")
        partial.write_bytes(message.to_mime().as_bytes())
        os.replace(partial, path)
        return path


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """The envelope of one stored message, for listing without parsing bodies."""

    id: str
    date: str
    to: str
    from_: str
    subject: str


def outbox_ids(directory: Path) -> list[str]:
    """Ids of the stored messages, newest first; only well-formed names count."""
    if not directory.is_dir():
        return []
    ids = [
        path.stem
        for path in directory.iterdir()
        if path.suffix == OUTBOX_SUFFIX and OUTBOX_ID.fullmatch(path.stem) and path.is_file()
    ]
    return sorted(ids, reverse=True)


def outbox_path(directory: Path, message_id: str) -> Path | None:
    """The file for an id, or None: ids never become paths unless they name a stored file."""
    if not OUTBOX_ID.fullmatch(message_id):
        return None
    path = directory / f"{message_id}{OUTBOX_SUFFIX}"
    return path if path.is_file() else None


def list_outbox(directory: Path, limit: int = 200) -> list[OutboxEntry]:
    """The newest `limit` messages' headers."""
    import email.policy  # heavy (0.6 MB, 5 ms): the dev outbox page loads it, startup does not

    parser = BytesHeaderParser(policy=email.policy.default)
    entries = []
    for message_id in outbox_ids(directory)[:limit]:
        path = directory / f"{message_id}{OUTBOX_SUFFIX}"
        try:
            with path.open("rb") as handle:
                headers = parser.parse(handle)
        except FileNotFoundError:
            continue
        entries.append(
            OutboxEntry(
                id=message_id,
                date=str(headers.get("Date", "")),
                to=str(headers.get("To", "")),
                from_=str(headers.get("From", "")),
                subject=str(headers.get("Subject", "")),
            )
        )
    return entries


def read_outbox(directory: Path, message_id: str) -> email.message.EmailMessage | None:
    """The parsed message for an id, or None if there is no such stored message."""
    path = outbox_path(directory, message_id)
    if path is None:
        return None
    import email.policy  # heavy (0.6 MB, 5 ms): the dev outbox page loads it, startup does not

    parsed = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def body_part(message: email.message.EmailMessage, subtype: str) -> str | None:
    """The decoded text/<subtype> body of a message, if it has one."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None
