"""`vibetuner secret generate` prints keys that production accepts, and never the same one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from vibetuner.config import Settings

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    return subprocess.run(
        [VIBETUNER, "secret", "generate", *args], capture_output=True, text=True, env=env
    )


def test_keys_are_random_url_safe_and_pass_the_production_check() -> None:
    first, second = generate().stdout.strip(), generate().stdout.strip()
    assert first != second
    for key in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{48}", key)
        settings = Settings(environment="prod", secret_key=SecretStr(key))
        assert settings.secret_key_problem() is None


def test_length_and_env_line() -> None:
    line = generate("--length", "64", "--env").stdout.strip()
    assert re.fullmatch(r"SECRET_KEY=[A-Za-z0-9_-]{64}", line)


def test_a_short_length_is_refused_with_a_fix() -> None:
    result = generate("--length", "16")
    assert result.returncode == 2 and result.stdout == ""  # a usage error
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "Error: --length 16 is out of range; SECRET_KEY needs 32 to 1024 characters."
    )
    assert lines[1].startswith("Fix: Use --length 32 or more") and len(lines) == 2
