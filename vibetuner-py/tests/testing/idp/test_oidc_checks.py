"""What the OIDC provider adds to the mock: PKCE, code lifetimes, a published `kid`, and
the bad ID tokens tests ask for."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from vibetuner.testing.idp import DEFECTS, Defect, LocalOIDCProvider, oidc_provider
from vibetuner.testing.idp._oidc import Client

from .conftest import CALLBACK

AUTHORIZE, TOKEN = "/oauth2/authorize", "/oauth2/token"


def _params(rp: Client, challenge: str | None, method: str | None = "S256") -> dict[str, str]:
    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": CALLBACK,
              "scope": "openid email", "state": "st", "nonce": "n-1"}  # fmt: skip
    if challenge is not None:
        params["code_challenge"] = challenge
        if method is not None:
            params["code_challenge_method"] = method
    return params


def _query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


async def _code(
    http: httpx.AsyncClient, idp: LocalOIDCProvider, rp: Client, challenge: str | None
) -> dict[str, str]:
    idp.next_identity(email="ada@example.com")
    return _query(await http.get(AUTHORIZE, params=_params(rp, challenge)))


async def _exchange(
    http: httpx.AsyncClient, rp: Client, code: str, verifier: str | None
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    if verifier is not None:
        form["code_verifier"] = verifier
    return await http.post(TOKEN, data=form, auth=(rp.client_id, rp.client_secret))


def _refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert words in response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"


async def test_pkce_verifier_is_checked(oidc: LocalOIDCProvider, oidc_client: Client) -> None:
    verifier = generate_token(48)
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        code = (await _code(http, oidc, oidc_client, create_s256_code_challenge(verifier)))["code"]
        _refused(await _exchange(http, oidc_client, code, generate_token(48)), "does not match")
        _refused(await _exchange(http, oidc_client, code, None), "does not match")
        good = await _exchange(http, oidc_client, code, verifier)  # failures did not spend it
        again = await _exchange(http, oidc_client, code, verifier)
    assert good.status_code == 200 and "id_token" in good.json()
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


async def test_a_verifier_without_a_challenge_is_a_downgrade(
    oidc: LocalOIDCProvider, oidc_client: Client
) -> None:
    async with httpx.AsyncClient(base_url=oidc.issuer) as http:
        code = (await _code(http, oidc, oidc_client, None))["code"]
        _refused(await _exchange(http, oidc_client, code, generate_token(48)), "no code_challenge")
        assert (await _exchange(http, oidc_client, code, None)).status_code == 200


@pytest.mark.parametrize(
    ("challenge", "method", "words"),
    [(None, None, "required"), ("x" * 43, "plain", "S256"), ("x" * 43, None, "S256")],
)
async def test_require_pkce_refuses_requests_without_s256(
    challenge: str | None, method: str | None, words: str
) -> None:
    with oidc_provider(require_pkce=True) as idp:
        rp = idp.register_client([CALLBACK])
        idp.next_identity(email="ada@example.com")
        async with httpx.AsyncClient(base_url=idp.issuer) as http:
            query = _query(await http.get(AUTHORIZE, params=_params(rp, challenge, method)))
    assert query["error"] == "invalid_request" and words in query["error_description"]
    assert query["state"] == "st" and "code" not in query


async def test_codes_expire() -> None:
    with oidc_provider(code_ttl=0) as idp:
        rp = idp.register_client([CALLBACK])
        verifier = generate_token(48)
        async with httpx.AsyncClient(base_url=idp.issuer) as http:
            code = (await _code(http, idp, rp, create_s256_code_challenge(verifier)))["code"]
            _refused(await _exchange(http, rp, code, verifier), "expired")


async def _id_token(idp: LocalOIDCProvider, rp: Client) -> tuple[str, dict[str, Any]]:
    verifier = generate_token(48)
    async with httpx.AsyncClient(base_url=idp.issuer) as http:
        code = (await _code(http, idp, rp, create_s256_code_challenge(verifier)))["code"]
        token = await _exchange(http, rp, code, verifier)
        keys = (await http.get("/jwks")).json()
    assert token.status_code == 200, token.text
    return token.json()["id_token"], keys


def _claims(id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(jws.extract_compact(id_token.encode()).payload)
    return claims


async def test_id_tokens_carry_a_published_kid(
    oidc: LocalOIDCProvider, oidc_client: Client
) -> None:
    id_token, jwks = await _id_token(oidc, oidc_client)
    header = jws.extract_compact(id_token.encode()).headers()
    assert header["kid"] == jwks["keys"][0]["kid"] and header["alg"] == "RS256"
    claims = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == oidc.issuer and claims["aud"] == [oidc_client.client_id]
    assert claims["nonce"] == "n-1" and claims["exp"] > time.time()
    async with httpx.AsyncClient() as http:
        meta = (await http.get(oidc.metadata_url)).json()
    assert meta["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize("defect", DEFECTS)
async def test_next_id_token_spoils_one_token(
    oidc: LocalOIDCProvider, oidc_client: Client, defect: Defect
) -> None:
    earlier, _jwks = await _id_token(oidc, oidc_client)
    oidc.next_id_token(defect)
    spoiled, jwks = await _id_token(oidc, oidc_client)
    after, _jwks = await _id_token(oidc, oidc_client)
    keys = KeySet.import_key_set(jwks)
    assert jwt.decode(after, keys, algorithms=["RS256"]).claims["sub"]  # one token only
    claims, now = _claims(spoiled), time.time()
    if defect == "wrong_key":
        with pytest.raises(BadSignatureError):
            jwt.decode(spoiled, keys, algorithms=["RS256"])
    elif defect == "unsigned":
        assert spoiled.endswith(".") and jws.extract_compact(spoiled.encode()).headers() == {
            "typ": "JWT",
            "alg": "none",
        }
    else:
        jwt.decode(spoiled, keys, algorithms=["RS256"])  # properly signed, but wrong inside
    expected = {
        "wrong_issuer": lambda: claims["iss"] != oidc.issuer,
        "wrong_audience": lambda: claims["aud"] == ["another-client"],
        "replayed_nonce": lambda: spoiled == earlier,
        "expired": lambda: claims["exp"] < now - 3000,
        "no_expiry": lambda: "exp" not in claims,
        "no_subject": lambda: "sub" not in claims,
    }
    assert expected.get(defect, lambda: claims["sub"] and claims["exp"] > now)()
