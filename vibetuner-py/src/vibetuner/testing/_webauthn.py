"""A software passkey authenticator: real WebAuthn answers (P-256 keys, "none" attestation)
for tests that register passkeys and sign in with them without a browser.

    authenticator = SoftAuthenticator(origin="http://testserver")
    created = authenticator.create(options)      # the JSON `navigator.credentials.create()` gives
    asserted = authenticator.get(options)        # the JSON `navigator.credentials.get()` gives

`options` is the JSON the options endpoints answer. Each `get` signs with the next counter;
`counter=` and `tamper=True` make the answers a cloned or forged authenticator would give.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
"""Authenticator data flags: user present, verified, backup eligible, backed up, attested."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cbor(value: Any) -> bytes:
    """The little CBOR a COSE key and an attestation object need (ints, bytes, text, maps)."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        for info, size in ((24, "B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 2 ** (8 * struct.calcsize(size)):
                return bytes([major << 5 | info]) + struct.pack(size, n)
        raise ValueError(n)

    if isinstance(value, bool):
        raise TypeError("no booleans here")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        encoded = value.encode()
        return head(3, len(encoded)) + encoded
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(_cbor(k) + _cbor(v) for k, v in value.items())
    raise TypeError(type(value))


@dataclass
class Credential:
    """One passkey held by the authenticator."""

    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return _cbor({1: 2, 3: -7, -1: 1, -2: x, -3: y})  # EC2, ES256, P-256


@dataclass
class SoftAuthenticator:
    """A platform authenticator in memory; `synced` marks its passkeys backed up."""

    origin: str
    synced: bool = True
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def _flags(self, *extra: int) -> int:
        flags = UP | UV
        if self.synced:
            flags |= BE | BS
        for bit in extra:
            flags |= bit
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        document = {"type": kind, "challenge": challenge, "origin": origin or self.origin,
                    "crossOrigin": False}  # fmt: skip
        return json.dumps(document, separators=(",", ":")).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """A new passkey for `options` (from the registration options endpoint); a known
        `credential_id` makes it stand in for one registered before."""
        rp_id = options["rp"]["id"]
        credential = Credential(
            id=credential_id or secrets.token_bytes(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=from_b64url(options["user"]["id"]),
        )
        self.credentials[credential.id] = credential
        attested = (
            bytes(16)  # AAGUID: none
            + struct.pack(">H", len(credential.id))
            + credential.id
            + credential.cose_public_key()
        )
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(AT)])
            + struct.pack(">I", credential.counter)
            + attested
        )
        attestation = _cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        counter: int | None = None,
        tamper: bool = False,
        origin: str | None = None,
    ) -> dict[str, Any]:
        """Sign `options`' challenge with a passkey for its RP (the newest, unless named).
        `counter` sends that count instead of the next one; `tamper` spoils the signature."""
        rp_id = options["rpId"]
        if credential_id is None:
            credential_id = next(
                c.id for c in reversed(self.credentials.values()) if c.rp_id == rp_id
            )
        credential = self.credentials[credential_id]
        credential.counter = credential.counter + 1 if counter is None else counter
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", credential.counter)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = credential.key.sign(signed + b"!", ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }
