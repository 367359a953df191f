"""`vibetuner debug unlock` prints a link the prod server accepts, once, until it expires."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from vibetuner.services.unlock import MAX_MINUTES, UNLOCK_PATH, UnlockRefused, verify_token

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")
SECRET = "Vq3xN8-kR2wT7zL5mP9cH4jB6sD1fG0yQ7xK"
BASE = "https://app.example.com"


def unlock(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "VIBETUNER_ENV_FILE": "/dev/null",
             "PROJECT_ROOT": str(tmp_path), "ENVIRONMENT": "prod", **env}  # fmt: skip
    return subprocess.run([VIBETUNER, "debug", "unlock", *args], capture_output=True, text=True,
                          env=clean, cwd=tmp_path, timeout=120)  # fmt: skip


def _token(line: str) -> tuple[str, str]:
    link = line.split()[0]
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)["token"][0]


def test_the_link_is_signed_with_the_servers_key_and_expires_in_the_minutes_asked(
    tmp_path: Path,
) -> None:
    before = datetime.now(UTC)
    first = unlock(tmp_path, "--minutes", "5", SECRET_KEY=SECRET, BASE_URL=BASE)
    second = unlock(tmp_path, SECRET_KEY=SECRET, BASE_URL=BASE)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    where, token = _token(first.stdout)
    assert where == f"{BASE}{UNLOCK_PATH}"
    assert re.search(r"\(single use; expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", first.stdout)
    unlocked = verify_token(token, SECRET)
    assert before + timedelta(minutes=4) < unlocked.expires_at <= before + timedelta(minutes=6)
    assert verify_token(_token(second.stdout)[1], SECRET).nonce != unlocked.nonce
    with pytest.raises(UnlockRefused, match="forged"):
        verify_token(token, SECRET + "x")  # another server's key
    with pytest.raises(UnlockRefused, match="expired"):
        verify_token(token, SECRET, now=before + timedelta(minutes=6))


@pytest.mark.parametrize("minutes", ["0", str(MAX_MINUTES + 1), "soon"])
def test_minutes_out_of_range_is_one_clear_error(tmp_path: Path, minutes: str) -> None:
    result = unlock(tmp_path, "--minutes", minutes, SECRET_KEY=SECRET, BASE_URL=BASE)
    assert result.returncode == 2 and result.stdout == ""
    assert "--minutes" in result.stderr and "Traceback" not in result.stderr


def test_prod_without_a_secret_key_says_so_in_one_line(tmp_path: Path) -> None:
    result = unlock(tmp_path, BASE_URL=BASE)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        "Error: SECRET_KEY is not set: the unlock link is signed with it."
    )
    assert "Traceback" not in result.stderr


def test_prod_with_a_key_the_server_refuses_prints_no_link(tmp_path: Path) -> None:
    result = unlock(tmp_path, SECRET_KEY="password123", BASE_URL=BASE)
    assert result.returncode == 2 and result.stdout == ""
    assert "SECRET_KEY" in result.stderr.splitlines()[0] and "Traceback" not in result.stderr
