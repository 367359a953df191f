"""Real servers for the email tests: an in-process SMTP sink and a recording HTTP API.

Not a conftest.py (tests/services is shared): email test modules load it with
`pytest_plugins = ["tests.services.email_support"]`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from vibetuner.config import reset_settings
from vibetuner.server._net import free_port
from vibetuner.services.email import reset_email_service

EMAIL_VARS = (
    "EMAIL_PROVIDER", "MAIL_FROM", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD",
    "SMTP_SECURITY", "RESEND_API_KEY", "RESEND_API_URL", "MAILJET_API_KEY",
    "MAILJET_API_SECRET", "MAILJET_API_URL",
)  # fmt: skip


@pytest.fixture
def email_env(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """`settings_env` without any email settings, and a fresh email service."""
    for name in EMAIL_VARS:
        settings_env.delenv(name, raising=False)
    reset_settings()
    reset_email_service()
    yield settings_env
    reset_email_service()


# --- SMTP --------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    login: bytes | None


class RecordingHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse = False
        """Answer every message with a permanent failure, as a relay that is down for us."""

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "554 Transaction failed"
        content = envelope.original_content or b""
        login = getattr(session.auth_data, "login", None)
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message_from_bytes(content),
                login=login,
            )
        )
        return "250 OK"


USERNAME, PASSWORD = "mailer", "s3cret"


def _authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    if not ok:
        return AuthResult(success=False, handled=False)
    return AuthResult(success=True, auth_data=auth_data)


@dataclass
class SMTPSink:
    host: str
    port: int
    handler: RecordingHandler
    client_tls: ssl.SSLContext | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@dataclass
class TLSFiles:
    cert: Path
    key: Path
    server: ssl.SSLContext = field(init=False)
    client: ssl.SSLContext = field(init=False)

    def __post_init__(self) -> None:
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.load_cert_chain(self.cert, self.key)
        self.client = ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A self-signed certificate for 127.0.0.1, trusted only by the client context."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TLSFiles(cert_path, key_path)


def _start_sink(**options: Any) -> tuple[Controller, SMTPSink]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller, SMTPSink("127.0.0.1", port, handler)


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    """Plain SMTP that also offers AUTH without TLS (a local relay)."""
    controller, sink = _start_sink(authenticator=_authenticate, auth_require_tls=False)
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_starttls_sink(tls_files: TLSFiles) -> Iterator[SMTPSink]:
    """SMTP that requires STARTTLS before anything else, and AUTH over it."""
    controller, sink = _start_sink(
        tls_context=tls_files.server, require_starttls=True, authenticator=_authenticate
    )
    sink.client_tls = tls_files.client
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_ssl_sink(tls_files: TLSFiles) -> Iterator[SMTPSink]:
    """SMTP over implicit TLS (port 465 style)."""
    controller, sink = _start_sink(ssl_context=tls_files.server)
    sink.client_tls = tls_files.client
    try:
        yield sink
    finally:
        controller.stop()


# --- HTTP --------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HTTPRecorder:
    """What the API received, and what it answers next (status and JSON)."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    answer: Any = field(default_factory=lambda: {"id": "fake"})


def _handler_for(recorder: HTTPRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            recorder.requests.append(
                Recorded(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
            )
            payload = json.dumps(recorder.answer).encode()
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def http_recorder() -> Iterator[HTTPRecorder]:
    """A real HTTP server on a free port that records every POST."""
    port = free_port()
    recorder = HTTPRecorder(url=f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(recorder))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- Templates ---------------------------------------------------------------------------


@pytest.fixture
def email_templates(email_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A project `welcome` email (html with a subject block, and text), in tmp_path."""
    emails = tmp_path / "templates" / "emails"
    emails.mkdir(parents=True)
    (emails / "welcome.html.jinja").write_text(
        '{% extends "emails/base.html.jinja" %}'
        "{% block subject %}Welcome to {{ project_name }}, {{ name }}{% endblock %}"
        '{% block content %}<p>Hi {{ name }}</p><a href="{{ link }}">Sign in</a>{% endblock %}'
    )
    (emails / "welcome.txt.jinja").write_text("Hi {{ name }},\n\nSign in: {{ link }}\n")
    (emails / "nosubject.html.jinja").write_text("<p>{{ name }}</p>")
    (emails / "nosubject.txt.jinja").write_text("{{ name }}")
    (emails / "htmlonly.html.jinja").write_text("{% block subject %}S{% endblock %}")
    return emails
