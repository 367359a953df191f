"""A server scores its SECRET_KEY at startup in a child process (zxcvbn's dictionaries stay out
of its workers, issue #15 item 4), with the same verdict, and once per process tree."""

from __future__ import annotations

import math
import os
import secrets
import subprocess
import sys
import time

import pytest

from tests.test_embedded import _alive
from vibetuner._secret_strength import (
    CHECKED_ENV,
    fingerprint,
    secret_strength,
    startup_strength,
)
from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError

WEAK_AND_STRONG = [
    "CHANGE_ME_CHANGE_ME_CHANGE_ME_12345",
    "correcthorsebatterystaplecorrecthorse",
    "1234567890qwertyuiopasdfghjklzxcvbnm",
    "Ab3" * 12 + "\r\nzq",
    "9f3c1a7e5b2d48e6a0c4f1b39d7e2a65",  # hex, fixed so every xdist worker collects the same ids
    "q7Xk2P_vL9mZ-rT4wYb8NcE1sJ6hU3oD5gF0aQiRlKxWnVtBy2Hu7MpC4eZs9JdG",
]


@pytest.mark.parametrize("key", WEAK_AND_STRONG)
def test_the_child_scores_a_key_as_this_process_does(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHECKED_ENV, "")
    assert startup_strength(key) == pytest.approx(secret_strength(key))


def _prod(env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("ENVIRONMENT", "prod")
    env.setenv("DEBUG", "false")
    env.setenv("SECRET_KEY", key)
    env.setenv("DATABASE_URL", "mongodb://127.0.0.1:9/app")
    env.setenv("BASE_URL", "https://example.com")
    env.setenv(CHECKED_ENV, "")  # recorded, so what check_production sets is undone after
    env.delenv(CHECKED_ENV)
    get_settings.cache_clear()


def test_a_strong_key_is_scored_once_per_process_tree(settings_env: pytest.MonkeyPatch) -> None:
    key = secrets.token_urlsafe(48)
    _prod(settings_env, key)
    get_settings().check_production()
    assert os.environ[CHECKED_ENV] == fingerprint(key) and key not in os.environ[CHECKED_ENV]
    # The workers the launcher forks see the fingerprint and start no child: with no
    # Python to run one, a fresh estimate would fall back to finite numbers.
    settings_env.setattr(sys, "executable", "/nonexistent/python")
    assert math.isinf(startup_strength(key).bits)
    other = secrets.token_urlsafe(48)
    assert math.isfinite(startup_strength(other).bits), "another key is scored"


def test_meanwhile_runs_whether_or_not_the_key_was_already_scored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`run prod` preloads its workers' framework in `meanwhile`: a key scored earlier in the
    process tree must not skip that."""
    key = secrets.token_urlsafe(48)
    calls: list[str] = []
    monkeypatch.setenv(CHECKED_ENV, "")
    startup_strength(key, meanwhile=lambda: calls.append("scored"))
    monkeypatch.setenv(CHECKED_ENV, fingerprint(key))
    assert math.isinf(startup_strength(key, meanwhile=lambda: calls.append("known")).bits)
    assert calls == ["scored", "known"]


def test_a_weak_key_is_refused_at_startup_and_not_remembered(
    settings_env: pytest.MonkeyPatch,
) -> None:
    _prod(settings_env, "correcthorsebatterystaplecorrecthorse")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        get_settings().check_production()
    assert CHECKED_ENV not in os.environ


def _probe(code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by a fresh Python that has scored no key yet."""
    env = {k: v for k, v in os.environ.items() if k != CHECKED_ENV}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


def test_the_score_comes_from_the_child_and_zxcvbn_stays_out() -> None:
    """Scored here instead (the fallback), zxcvbn's 15 MB would land in every worker."""
    probe = (
        "import sys, secrets, time\n"
        "from vibetuner._secret_strength import startup_strength\n"
        "waited = []\n"
        "strength = startup_strength(secrets.token_urlsafe(48), lambda: waited.append(1))\n"
        "print(strength.bits > 128, waited == [1], 'zxcvbn' in sys.modules)\n"
    )
    done = _probe(probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False"]


def _children() -> set[int]:
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listing:
            pids.update(int(pid) for pid in listing.read().split())
    return pids


def test_the_child_scores_while_the_launcher_preloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key reaches the child before `meanwhile` runs: had it waited for the preload to end,
    the launcher would then wait for the scoring too (about 60 ms of every cold start)."""
    monkeypatch.setenv(CHECKED_ENV, "")
    before = _children()
    finished: list[bool] = []

    def meanwhile() -> None:
        scorers = _children() - before
        assert len(scorers) == 1, scorers
        (scorer,) = scorers
        deadline = time.monotonic() + 30  # a liveness bound: it takes well under a second
        while _alive(scorer) and time.monotonic() < deadline:
            time.sleep(0.01)
        finished.append(not _alive(scorer))

    key = secrets.token_urlsafe(48)
    assert startup_strength(key, meanwhile) == pytest.approx(secret_strength(key))
    assert finished == [True], "the child waited for the key until meanwhile() returned"


def test_a_process_out_of_file_descriptors_scores_the_key_itself() -> None:
    """No pipe for the child (EMFILE): the key is still scored, and the server starts."""
    probe = (
        "import os, resource, secrets\n"
        "from vibetuner._secret_strength import startup_strength\n"
        "key = secrets.token_urlsafe(48)\n"
        "held = len(os.listdir('/proc/self/fd'))\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (held, held))  # none left for a pipe\n"
        "print(startup_strength(key).bits > 128)\n"
    )
    done = _probe(probe)
    assert done.returncode == 0 and done.stdout.split() == ["True"], done.stderr
