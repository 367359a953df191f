"""Who may scrape /metrics: on in dev, off in prod until a token or networks are set."""

from __future__ import annotations

import pytest

from tests.monitoring.conftest import build, client
from vibetuner.config import get_settings, reset_settings
from vibetuner.monitoring._endpoint import access_status


def _configure(env: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        env.setenv(name.upper(), value)
    reset_settings()


async def _status(peer: str = "127.0.0.1", **headers: str) -> int:
    async with client(build(), peer) as http:
        return (await http.get("/metrics", headers=headers)).status_code


async def test_dev_serves_any_peer_that_names_this_machine(env: pytest.MonkeyPatch) -> None:
    assert await _status("203.0.113.9") == 200
    assert await _status("127.0.0.1", Host="rebound.example") == 403


async def test_disabled_is_404(env: pytest.MonkeyPatch) -> None:
    _configure(env, metrics_enabled="false")
    assert await _status() == 404
    env.delenv("METRICS_ENABLED")
    _configure(env, environment="prod")
    assert await _status() == 404  # prod, nothing configured: off


async def test_token(env: pytest.MonkeyPatch) -> None:
    _configure(env, environment="prod", metrics_token="s3cret")
    async with client(build(), "203.0.113.9") as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200 and "vibetuner_http_responses_total" in right.text


async def test_allowed_networks(env: pytest.MonkeyPatch) -> None:
    _configure(env, environment="prod", metrics_allow='["10.0.0.0/8", "fd00::/8"]')
    assert await _status("10.1.2.3") == 200
    assert await _status("fd00::1") == 200
    assert await _status("192.168.1.1") == 403
    assert await _status("10.1.2.3", **{"X-Forwarded-For": "198.51.100.1"}) == 403


async def test_enabled_in_prod_without_access_serves_loopback_only(
    env: pytest.MonkeyPatch,
) -> None:
    _configure(env, environment="prod", metrics_enabled="true")
    assert await _status("127.0.0.1") == 200
    assert await _status("10.0.0.1") == 403


def test_access_rules_edge_cases(env: pytest.MonkeyPatch) -> None:
    _configure(env, environment="prod", metrics_allow='["not-a-network", "10.0.0.0/8"]')
    settings = get_settings()
    assert access_status(settings, "::ffff:10.0.0.7", []) is None
    assert access_status(settings, None, []) == 403
    assert access_status(settings, "garbage", []) == 403
    _configure(env, environment="prod", metrics_token="t", metrics_allow='["10.0.0.0/8"]')
    settings = get_settings()
    assert access_status(settings, "10.0.0.7", []) is None  # the network suffices
    assert access_status(settings, "8.8.8.8", [(b"authorization", b"bearer t")]) is None
    assert access_status(settings, "8.8.8.8", [(b"authorization", b"Basic t")]) == 401
