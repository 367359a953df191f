"""The provider's signing key: a fresh RSA key per provider, published as a JWK set."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"


class SigningKey:
    """An RS256 key that signs ID tokens; only its public half is ever published."""

    def __init__(self, key_size: int = 2048) -> None:
        self.kid = secrets.token_urlsafe(8)
        self._key = RSAKey.generate_key(
            key_size, parameters={"kid": self.kid, "use": "sig", "alg": ALGORITHM}, private=True
        )

    def jwks(self) -> dict[str, Any]:
        """The JWK set served at `jwks_uri` (public parameters only)."""
        return dict(KeySet([self._key]).as_dict(private=False))

    def sign(self, claims: dict[str, Any]) -> str:
        """Encode `claims` as a compact RS256 JWT whose header names this key."""
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key)


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: the left half of the SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
