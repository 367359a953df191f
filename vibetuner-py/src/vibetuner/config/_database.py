"""Reaching MongoDB beyond its URL: the TLS files, and where read-heavy queries may read.

Each file is checked when settings load, so a wrong path is one config error naming the
setting, not a TLS failure at the first query.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

ReadPreferenceMode = Literal[
    "primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"
]
MIN_MAX_STALENESS = 90
"""pymongo's floor: a heartbeat (10 s) plus the idle write period (10 s), rounded up to 90 s."""
_MODES = {mode.lower(): mode for mode in get_args(ReadPreferenceMode)}


class DatabaseSettings(BaseSettings):
    """MongoDB's TLS files and read preference; `Settings` inherits them."""

    database_tls: bool | None = None
    """TLS on (true) or off (false); unset: on with a CA or client certificate, else as
    DATABASE_URL says (`mongodb+srv://` and `?tls=true` turn it on)."""
    database_tls_ca_file: Path | None = None
    """PEM bundle of the CA that signed the server's certificate; unset: the system's CAs."""
    database_tls_cert_key_file: Path | None = None
    """PEM file holding the client certificate and its private key, for servers that ask for
    one (mutual TLS)."""
    database_tls_cert_key_password: SecretStr | None = None
    """Passphrase of DATABASE_TLS_CERT_KEY_FILE's private key, when it is encrypted."""
    database_read_preference: ReadPreferenceMode = "primary"
    """Where `replica_collection()` queries read; every other query reads the primary."""
    database_max_staleness_seconds: int | None = Field(default=None, ge=-1)
    """How far a secondary may lag the primary and still serve those reads: 90 or more, or
    -1 (unset) for no limit."""

    @field_validator("database_tls_ca_file", "database_tls_cert_key_file",
                     "database_tls_cert_key_password", "database_tls",
                     "database_max_staleness_seconds", mode="before")  # fmt: skip
    @classmethod
    def _blank_is_unset_file(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_read_preference", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        """`secondaryPreferred`, `secondary_preferred` and `SECONDARY-PREFERRED` are one mode."""
        if isinstance(value, str):
            folded = value.strip().replace("_", "").replace("-", "").lower()
            return _MODES.get(folded, value)
        return value

    @field_validator("database_tls_ca_file")
    @classmethod
    def _ca_file(cls, path: Path | None) -> Path | None:
        return None if path is None else _pem_file(path, needs=("CERTIFICATE",))

    @field_validator("database_tls_cert_key_file")
    @classmethod
    def _cert_key_file(cls, path: Path | None) -> Path | None:
        return None if path is None else _pem_file(path, needs=("CERTIFICATE", "PRIVATE KEY"))

    @model_validator(mode="after")
    def _coherent(self) -> DatabaseSettings:
        staleness = self.database_max_staleness_seconds
        if staleness is not None and staleness != -1:
            if staleness < MIN_MAX_STALENESS:
                raise ValueError(
                    f"DATABASE_MAX_STALENESS_SECONDS ({staleness}) must be at least "
                    f"{MIN_MAX_STALENESS} (the driver's floor), or -1 for no limit."
                )
            if self.database_read_preference == "primary":
                raise ValueError(
                    "DATABASE_MAX_STALENESS_SECONDS needs DATABASE_READ_PREFERENCE other than "
                    "primary (the primary is never stale), e.g. secondaryPreferred."
                )
        files = [
            name
            for name, value in (("DATABASE_TLS_CA_FILE", self.database_tls_ca_file),
                                ("DATABASE_TLS_CERT_KEY_FILE", self.database_tls_cert_key_file))
            if value is not None
        ]  # fmt: skip
        if self.database_tls is False and files:
            raise ValueError(f"DATABASE_TLS=false, but {' and '.join(files)} asks for TLS.")
        if self.database_tls_cert_key_password and self.database_tls_cert_key_file is None:
            raise ValueError(
                "DATABASE_TLS_CERT_KEY_PASSWORD is set, but DATABASE_TLS_CERT_KEY_FILE is not."
            )
        return self

    @property
    def database_tls_on(self) -> bool | None:
        """TLS as these settings ask: True, False, or None to leave it to DATABASE_URL."""
        if self.database_tls is not None:
            return self.database_tls
        if self.database_tls_ca_file or self.database_tls_cert_key_file:
            return True
        return None


def _pem_file(path: Path, needs: tuple[str, ...]) -> Path:
    """`path` when it is a readable PEM file with a block of each kind `needs`."""
    path = path.expanduser()
    if not path.is_file():
        raise ValueError(f"should be a PEM file, but {path} does not exist")
    if not os.access(path, os.R_OK):
        raise ValueError(f"should be a PEM file this user can read, but {path} is not readable")
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ValueError(f"should be a readable PEM file: {path}: {exc.strerror}") from None
    missing = [kind for kind in needs if f"{kind}-----" not in text]  # RSA, EC, ENCRYPTED keys
    if missing:
        what = " and ".join(f"a {kind} block" for kind in missing)
        raise ValueError(f"should be a PEM file with {what} (-----BEGIN ...), but {path} has none")
    return path
