"""The OpenID provider's ID tokens: signed with a key it publishes (with a `kid`, as Google
does), and spoiled on request the ways an attacker or a broken provider would spoil them.

The mock signs its tokens without a `kid`; we re-sign every one it issues, claims untouched,
with this provider's own key, so a test can also get tokens the mock would never issue.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any, Literal, get_args

from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from vibetuner.services.oauth._flow import audiences_of

Defect = Literal[
    "wrong_key",
    "wrong_issuer",
    "wrong_audience",
    "replayed_nonce",
    "expired",
    "no_expiry",
    "no_subject",
    "unsigned",
    "extra_audience",
    "wrong_party",
]
"""A bad ID token `LocalOIDCProvider.next_id_token` can issue:

- wrong_key: signed by a key the provider does not publish (under the published key's `kid`)
- wrong_issuer: `iss` names another provider
- wrong_audience: `aud` names another client
- replayed_nonce: the last good ID token this provider issued (to any client), sent again:
  its nonce belongs to that earlier sign-in
- expired: `exp` an hour in the past
- no_expiry: no `exp` at all
- no_subject: no `sub` at all
- unsigned: `alg: none` and no signature
- extra_audience: `aud` names our client and another one (a token meant for both)
- wrong_party: `azp` (the party it was issued to) names another client
"""

DEFECTS: tuple[Defect, ...] = get_args(Defect)
ALGORITHM = "RS256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM})
    key.ensure_kid()
    return key


class IDTokenSigner:
    """Signs the provider's ID tokens; remembers the last good one to replay it when asked."""

    def __init__(self) -> None:
        self._key: RSAKey | None = None
        self._last: str | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> RSAKey:
        """The signing key, made on first use (most servers in a test run never sign)."""
        with self._lock:
            if self._key is None:
                self._key = _new_key()
            return self._key

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set the provider publishes: the public half of its key."""
        return {"keys": [self.key.as_dict(private=False)]}

    def reissue(self, id_token: str, defect: Defect | None = None) -> str:
        """The mock's ID token, re-signed with our key, and spoiled as `defect` says."""
        if defect == "replayed_nonce":
            with self._lock:
                replayed = self._last
            if replayed is None:
                raise RuntimeError("replayed_nonce needs an earlier sign-in to replay")
            return replayed
        claims: dict[str, Any] = json.loads(jws.extract_compact(id_token.encode()).payload)
        if defect is not None:
            return self._spoil(claims, defect)
        token = self._sign(claims)
        with self._lock:
            self._last = token
        return token

    def _sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        signer = key or self.key
        header = {"typ": "JWT", "alg": ALGORITHM, "kid": self.key.kid}
        return jwt.encode(header, claims, signer, algorithms=[ALGORITHM])

    def _spoil(self, claims: dict[str, Any], defect: Defect) -> str:
        now = int(time.time())
        if defect == "wrong_key":
            return self._sign(claims, _new_key())
        if defect == "unsigned":
            header = _b64(json.dumps({"typ": "JWT", "alg": "none"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if defect == "wrong_issuer":
            claims["iss"] = "https://issuer.invalid"
        elif defect == "wrong_audience":
            claims["aud"] = ["another-client"]
        elif defect == "expired":
            claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
        elif defect == "no_expiry":
            claims.pop("exp", None)
        elif defect == "no_subject":
            claims.pop("sub", None)
        elif defect == "extra_audience":
            claims["aud"] = [*audiences_of(claims.get("aud")), "another-client"]
        elif defect == "wrong_party":
            claims["azp"] = "another-client"
        return self._sign(claims)
