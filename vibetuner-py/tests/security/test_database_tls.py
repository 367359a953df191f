"""MongoDB over TLS: DATABASE_TLS_* reach every client, against the embedded server with TLS on
(and, in a second server, client certificates required), under a CA made by the test.

A trusted CA connects and queries; a wrong one, a missing client certificate or a missing TLS
setting is refused with one line that says what to set, from `init_db`, from the reachability
check `vibetuner run` makes first, and from `doctor`.

The failures are mostly read through the reachability check's (sync) client. pymongo's async
client, closed while its monitor is between connecting and the TLS handshake, can leave that
socket open; SecantusDB does handshakes on its accept thread, so one such socket stalls every
later connection to that server (mongod does not). The one `init_db` failure test gets a
server of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from beanie import Document

from tests.cli.test_doctor import PROD, doctor
from tests.security._tls import Authority
from vibetuner.config import get_settings, reset_settings
from vibetuner.data import _mongo
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import ConfigError, DatabaseUnavailable


class Secret(Document):
    text: str

    class Settings:
        name = "secrets"


@dataclass
class PKI:
    ca: Authority
    other: Authority
    server: tuple[Path, Path]
    client: Path
    stranger: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority.create(folder / "ca", "Database CA")
    other = Authority.create(folder / "other", "Someone else's CA")
    return PKI(
        ca, other, ca.issue("server", server=True), ca.issue_combined("app"),
        other.issue_combined("stranger"),
    )  # fmt: skip


def _server(pki: PKI, *extra: str, client: Path | None = None) -> EmbeddedMongo:
    cert, key = pki.server
    options: dict[str, object] = {"tls": True, "tlsCAFile": str(pki.ca.ca_file)}
    if client is not None:
        options["tlsCertificateKeyFile"] = str(client)
    server = EmbeddedMongo(
        ":memory:",
        server_args=["--tls-cert-file", str(cert), "--tls-key-file", str(key), *extra],
        client_options=options,
    )
    server.start()
    return server


@pytest.fixture(scope="module")
def tls_mongo(pki: PKI) -> Iterator[EmbeddedMongo]:
    server = _server(pki)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mtls_mongo(pki: PKI) -> Iterator[EmbeddedMongo]:
    """Client certificates required, signed by the database CA."""
    server = _server(
        pki, "--tls-ca-file", str(pki.ca.ca_file), "--tls-require-client-cert", client=pki.client
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield settings_env
    reset_settings()


def _url(server: EmbeddedMongo) -> str:
    return f"mongodb://{server.host}:{server.port}/tls_{uuid.uuid4().hex[:8]}"


def _use(env: pytest.MonkeyPatch, **settings: Path | str) -> None:
    for name, value in settings.items():
        env.setenv(name.upper(), str(value))
    reset_settings()


@pytest.fixture
async def closing() -> AsyncIterator[None]:
    yield
    await _mongo.close_db()


def _refused(url: str) -> DatabaseUnavailable:
    with pytest.raises(DatabaseUnavailable) as caught:
        _mongo.check_reachable(url, timeout_ms=3000)
    error = caught.value
    assert "\n" not in error.message and "Topology" not in error.message, "one short line"
    return error


async def test_the_trusted_ca_connects_and_queries(
    tls_mongo: EmbeddedMongo, pki: PKI, env: pytest.MonkeyPatch, closing: None
) -> None:
    _use(env, database_tls_ca_file=pki.ca.ca_file)
    url = _url(tls_mongo)
    _mongo.check_reachable(url)
    await _mongo.init_db([Secret], url=url)
    await Secret(text="over TLS").insert()
    assert [s.text for s in await Secret.find_all().to_list()] == ["over TLS"]


def test_a_wrong_ca_is_refused_with_what_to_set(
    tls_mongo: EmbeddedMongo, pki: PKI, env: pytest.MonkeyPatch
) -> None:
    _use(env, database_tls_ca_file=pki.other.ca_file)
    error = _refused(_url(tls_mongo))
    assert error.message.startswith(
        f"MongoDB's TLS certificate is not trusted by DATABASE_TLS_CA_FILE={pki.other.ca_file}: "
    )
    assert "certificate verify failed" in error.message
    assert error.fix == "Set DATABASE_TLS_CA_FILE to the CA that signed the server's certificate."


def test_a_client_without_tls_is_told_the_server_may_want_it(
    tls_mongo: EmbeddedMongo, env: pytest.MonkeyPatch
) -> None:
    error = _refused(_url(tls_mongo))
    assert error.message.startswith("Cannot reach MongoDB: ")
    assert error.fix is not None and "whether it requires TLS" in error.fix


async def test_a_required_client_certificate_is_sent_when_set(
    mtls_mongo: EmbeddedMongo, pki: PKI, env: pytest.MonkeyPatch, closing: None
) -> None:
    _use(env, database_tls_ca_file=pki.ca.ca_file, database_tls_cert_key_file=pki.client)
    await _mongo.init_db([Secret], url=_url(mtls_mongo))
    await Secret(text="mutual").insert()
    assert await Secret.count() == 1


@pytest.mark.parametrize("client", [None, "stranger"])
def test_a_missing_or_untrusted_client_certificate_is_refused(
    mtls_mongo: EmbeddedMongo, pki: PKI, env: pytest.MonkeyPatch, client: str | None
) -> None:
    _use(env, database_tls_ca_file=pki.ca.ca_file)
    if client:
        _use(env, database_tls_cert_key_file=pki.stranger)
    error = _refused(_url(mtls_mongo))
    offered = f"the client certificate {pki.stranger}" if client else "no client certificate"
    assert error.message.startswith(
        f"MongoDB closed the connection during TLS setup, having been offered {offered}: "
    )
    assert error.fix is not None and "DATABASE_TLS_CERT_KEY_FILE" in error.fix


async def test_init_db_refuses_a_wrong_ca_in_one_line(pki: PKI, env: pytest.MonkeyPatch) -> None:
    _use(env, database_tls_ca_file=pki.other.ca_file)
    server = _server(pki)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await _mongo.init_db([Secret], url=_url(server), timeout_ms=3000)
    finally:
        server.stop()
    assert caught.value.message.startswith("MongoDB's TLS certificate is not trusted by ")
    assert "\n" not in caught.value.message and "Topology" not in caught.value.message


def test_doctor_names_the_untrusted_certificate(tls_mongo: EmbeddedMongo, pki: PKI) -> None:
    env = {**PROD, "DATABASE_URL": _url(tls_mongo), "DATABASE_TLS_CA_FILE": str(pki.other.ca_file)}
    result = doctor("--deploy", cwd=pki.ca.folder, env=env)
    database = next(line for line in result.stdout.splitlines() if "database:" in line)
    assert database.startswith(
        "✗ database: MongoDB's TLS certificate is not trusted by DATABASE_TLS_CA_FILE="
    ), result.stdout
    assert "Fix: Set DATABASE_TLS_CA_FILE to the CA that signed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    trusted = doctor("--deploy", cwd=pki.ca.folder,
                     env={**env, "DATABASE_TLS_CA_FILE": str(pki.ca.ca_file)})  # fmt: skip
    assert "✓ database: mongodb://" in trusted.stdout, trusted.stdout


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"DATABASE_TLS_CA_FILE": "{tmp}/missing.pem"},
         "DATABASE_TLS_CA_FILE (in the environment) should be a PEM file, but {tmp}/missing.pem "
         "does not exist"),
        ({"DATABASE_TLS_CERT_KEY_FILE": "{ca}"},
         "DATABASE_TLS_CERT_KEY_FILE (in the environment) should be a PEM file with a PRIVATE KEY "
         "block"),
        ({"DATABASE_TLS_CA_FILE": "{tmp}"}, "should be a PEM file, but {tmp} does not exist"),
        ({"DATABASE_TLS": "false", "DATABASE_TLS_CA_FILE": "{ca}"},
         "DATABASE_TLS=false, but DATABASE_TLS_CA_FILE asks for TLS."),
        ({"DATABASE_TLS_CERT_KEY_PASSWORD": "pw"}, "DATABASE_TLS_CERT_KEY_FILE is not"),
    ],
)  # fmt: skip
def test_a_wrong_tls_setting_is_one_config_error(
    env: pytest.MonkeyPatch, pki: PKI, tmp_path: Path, settings: dict[str, str], problem: str
) -> None:
    """Checked when settings load: a typo is named at startup, not at the first query."""
    paths = {"tmp": str(tmp_path), "ca": str(pki.ca.ca_file)}
    for name, value in settings.items():
        env.setenv(name, value.format(**paths))
    reset_settings()
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert problem.format(**paths) in caught.value.message
    assert "\n" not in caught.value.message
