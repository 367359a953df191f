"""How strong a SECRET_KEY is, by zxcvbn, and that check at a server's startup.

zxcvbn's dictionaries take about 15 MB and 70 ms to load. A server checks its key once, when
it starts: in a child process, so they never enter the server's workers (which its launcher
forks), and a launcher that found its key strong tells its workers so (`CHECKED_ENV`).
Run as `python -m vibetuner._secret_strength` with the key on stdin, it prints the estimate.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

CHECKED_ENV = "VIBETUNER_SECRET_CHECKED"
"""A fingerprint of the SECRET_KEY this process tree found strong (never the key itself)."""
CHILD_TIMEOUT = 60.0
_CHECKED = 72
"""Only a key's first 72 characters are scored: zxcvbn takes no more (and 72 random
characters hold far more than 128 bits)."""
_PATTERNS = frozenset({"dictionary", "spatial", "repeat", "sequence"})
_MIN_PATTERN = 5
"""Shorter words and runs turn up by chance in random keys: they count as random."""


class SecretStrength(NamedTuple):
    bits: float
    """Estimated entropy, by the model in `secret_strength`."""
    word_share: float
    """The share of the key's characters that are dictionary words."""


def secret_strength(secret: str) -> SecretStrength:
    """Estimate a key's entropy with a stated model, so weak keys are refused in production.

    Each character is worth log2 of the alphabet the key's character classes make up
    (lowercase 26, uppercase 26, digits 10, anything else 33), except runs of 5+ characters
    that zxcvbn recognises as a dictionary word, keyboard walk, repeat or sequence: such a
    run is worth only log2 of zxcvbn's guesses for it. So `1234567890...`, `abab...` and
    `CHANGE_ME_CHANGE_ME...` count for little, and `secrets.token_hex(16)` (36-character
    alphabet, about 165 bits by this model) passes 128 with room for chance patterns.
    """
    from zxcvbn import zxcvbn  # zxcvbn: its dictionaries load only when a key is checked

    sample = secret[:_CHECKED]
    classes = (
        (26, any("a" <= ch <= "z" for ch in sample)),
        (26, any("A" <= ch <= "Z" for ch in sample)),
        (10, any("0" <= ch <= "9" for ch in sample)),
        (33, any(not (ch.isascii() and ch.isalnum()) for ch in sample)),
    )
    per_character = math.log2(sum(size for size, used in classes if used) or 1)
    bits = 0.0
    words = 0
    for match in zxcvbn(sample)["sequence"]:
        token = str(match["token"])
        if match["pattern"] in _PATTERNS and len(token) >= _MIN_PATTERN:
            bits += math.log2(max(float(match["guesses"]), 1.0))
            words += len(token) if match["pattern"] == "dictionary" else 0
        else:
            bits += len(token) * per_character
    return SecretStrength(bits, words / max(len(sample), 1))


CHECKED_STRONG = SecretStrength(math.inf, 0.0)
"""What `startup_strength` says of a key this process tree already found strong."""


def fingerprint(secret: str) -> str:
    """Names a key without revealing it: an HMAC keyed by the key itself."""
    key = secret.encode("utf-8", "surrogatepass")
    return hmac.new(key, b"vibetuner: a strong SECRET_KEY", "sha256").hexdigest()[:32]


def remember_strong(secret: str) -> None:
    """This key passed: processes started from here on (forked workers) skip the estimate."""
    os.environ[CHECKED_ENV] = fingerprint(secret)


def _nothing() -> None:
    """No work to do while the child scores."""


def startup_strength(secret: str, meanwhile: Callable[[], None] = _nothing) -> SecretStrength:
    """The estimate from a child process, or `CHECKED_STRONG` when this process tree already
    found `secret` strong. `meanwhile` runs here while the child scores (a launcher loads
    what its workers will need). Falls back to this process if the child cannot run."""
    if hmac.compare_digest(os.environ.get(CHECKED_ENV, ""), fingerprint(secret)):
        meanwhile()  # nothing to wait for, but what it loads is still wanted
        return CHECKED_STRONG
    # The part that is scored goes in first (a few hundred bytes: the pipe holds them all),
    # so the child scores while `meanwhile` runs instead of after it.
    sample = secret[:_CHECKED].encode("utf-8", "surrogatepass")  # bytes: no newline changes
    try:
        reader, writer = os.pipe()
    except OSError:  # out of file descriptors: scored here
        meanwhile()
        return secret_strength(secret)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=reader,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        os.close(writer)
        meanwhile()
        return secret_strength(secret)
    finally:
        os.close(reader)
    try:
        with contextlib.suppress(OSError), os.fdopen(writer, "wb") as key:
            key.write(sample)  # a child that died has no answer: it is scored here, below
        meanwhile()
        out, _ = child.communicate(timeout=CHILD_TIMEOUT)
        bits, word_share = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError, TypeError):
        return secret_strength(secret)
    finally:
        if child.poll() is None:  # it failed or timed out: it must not outlive the check
            child.kill()
            child.wait()
    return SecretStrength(float(bits), float(word_share))


if __name__ == "__main__":
    import zxcvbn  # noqa: F401  # zxcvbn: loaded while the parent works, then the key is read

    print(
        json.dumps(list(secret_strength(sys.stdin.buffer.read().decode("utf-8", "surrogatepass"))))
    )
