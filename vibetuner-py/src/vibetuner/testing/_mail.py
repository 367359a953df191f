"""A real SMTP server for tests (aiosmtpd), recording what it receives.

with SMTPSink() as sink:            # sink.host, sink.port
    ...                             # point SMTP_HOST/SMTP_PORT at it, send mail
    sink.wait_for(1); sink.links()  # the URLs in the last message's text part
"""

from __future__ import annotations

import re
import time
from email import message_from_bytes
from email.message import Message
from typing import Any

from vibetuner.server._net import free_port
from vibetuner.server._process import Started


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 OK"


class SMTPSink(Started):
    """Plain SMTP on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._recorder = _Recorder()
        self._controller: Any = None

    @property
    def messages(self) -> list[Message]:
        return self._recorder.messages

    def start(self) -> SMTPSink:
        from aiosmtpd.controller import Controller  # testing extra

        self._controller = Controller(self._recorder, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(self.messages) < count:
            raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
        return self.messages

    def text(self, index: int = -1) -> str:
        message = self.messages[index]
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                return payload.decode() if isinstance(payload, bytes) else str(payload)
        return ""

    def links(self, index: int = -1) -> list[str]:
        return re.findall(r"https?://[^\s<>\"]+", self.text(index))
