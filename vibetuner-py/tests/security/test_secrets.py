"""Secrets (issue #14, item 7): production refuses a SECRET_KEY that is weak, not just short,
and the CSRF exemptions for webhooks cover whole path segments only."""

from __future__ import annotations

import base64
import random
import secrets
import string

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tests.frontend._apps import client, echo, token
from vibetuner.config import MIN_SECRET_BITS, Settings, secret_problem, secret_strength
from vibetuner.exceptions import ConfigError
from vibetuner.frontend._csrf_middleware import CSRFMiddleware
from vibetuner.frontend._session_middleware import SessionMiddleware
from vibetuner.services.sessions import MemorySessionStore

URL_SAFE = string.ascii_letters + string.digits + "-_"
SAMPLES = 60


def _generated(seed: int) -> list[str]:
    """Keys as `secrets.token_hex(16)`, `token_urlsafe(32)` and `vibetuner secret generate`
    (32 and 48 characters) make them, from a seeded generator so every run checks the same."""
    draw = random.Random(seed)
    return [
        draw.randbytes(16).hex(),
        base64.urlsafe_b64encode(draw.randbytes(32)).rstrip(b"=").decode(),
        "".join(draw.choice(URL_SAFE) for _ in range(32)),
        "".join(draw.choice(URL_SAFE) for _ in range(48)),
    ]


@pytest.mark.parametrize("seed", range(SAMPLES))
def test_keys_from_the_usual_generators_pass(seed: int) -> None:
    for key in _generated(seed):
        assert secret_problem(key) is None, key


def test_keys_from_secrets_and_the_cli_pass() -> None:
    from vibetuner.cli.secret import generate_secret

    for key in (secrets.token_hex(16), secrets.token_urlsafe(32), generate_secret(32)):
        assert secret_problem(key) is None, key


WEAK = [
    ("CHANGE_ME_CHANGE_ME_CHANGE_ME_CHANGE_ME", "placeholder"),
    ("your_secret_key_here_please_change_it_now", "placeholder"),
    ("supersecretkeyforproductionuse2024!!", "placeholder"),
    ("1234567890123456789012345678901234567890", "guessable"),
    ("abcdefghijklmnopqrstuvwxyz0123456789ABCD", "guessable"),
    ("s" * 8 + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4", "dictionary words"),  # a common password
    ("qwertyuiopasdfghjklzxcvbnm1234567890", "dictionary words"),
    ("correct-horse-battery-staple-Tr0ub4dor&3", "dictionary words"),
    ("ThisIsMyVerySecretProductionKey-2024!", "dictionary words"),
    ("abababababababababababababababababab", "only 2 different characters"),
    ("0110100110010110100101100110100110010110", "only 2 different characters"),
    ("short-but-random-Zq9x", "too short"),
    ("", "not set"),
]


@pytest.mark.parametrize(("key", "named"), WEAK)
def test_weak_keys_are_refused_and_the_error_names_the_fix(key: str, named: str) -> None:
    settings = Settings(environment="prod", secret_key=key, database_url="mongodb://db/app",  # type: ignore[arg-type]
                        base_url="https://app.example.com")  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        settings.check_production()
    assert named in refused.value.message
    assert refused.value.fix is not None and "vibetuner secret generate" in refused.value.fix


@pytest.mark.parametrize(
    "key",
    ["CHANGE_ME_CHANGE_ME_CHANGE_ME_CHANGE_ME", "1234567890" * 4, "abc" * 12,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijk", "Password1Password1Password1Password1"],
)  # fmt: skip
def test_the_entropy_model_alone_counts_repeats_and_runs_for_little(key: str) -> None:
    """Even without the placeholder list and the distinct-character floor."""
    assert secret_strength(key).bits < MIN_SECRET_BITS


def test_long_keys_are_scored_on_their_first_72_characters() -> None:
    strong = _generated(1)[3]
    assert secret_problem("a" * 1000) is not None
    assert secret_problem(strong + "a" * 1000) is None, "48 random characters are plenty"
    assert secret_problem("ab" * 40 + strong) is not None, "what is scored must be strong"


@pytest.mark.parametrize("exempt", ["/hooks", "/hooks/"])
async def test_csrf_exemptions_match_whole_path_segments(exempt: str) -> None:
    store = MemorySessionStore()
    app = Starlette(routes=[Route("/token", token)] + [
        Route(path, echo, methods=["POST"])
        for path in ("/hooks", "/hooks/in", "/hookshot", "/hooks-admin/delete")
    ])  # fmt: skip
    wrapped = SessionMiddleware(CSRFMiddleware(app, exempt=(exempt,)), store=lambda: store,
                                cookie_name="sid", max_age=3600)  # fmt: skip
    async with client(wrapped) as http:
        await http.get("/token")  # a session, so unsafe requests need its token
        paths = ("/hooks", "/hooks/in", "/hookshot", "/hooks-admin/delete")
        answers = {path: (await http.post(path, data={"a": "1"})).status_code for path in paths}
    assert answers == {"/hooks": 200, "/hooks/in": 200, "/hookshot": 403,
                       "/hooks-admin/delete": 403}  # fmt: skip
