"""One "required in CI" switch: a test whose server, tool or browser is missing skips on a
laptop, and fails where `make test` runs as root (VIBETUNER_REQUIRE_ALL=1), because there
everything it needs was installed and a skip would hide a regression."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ALL = "VIBETUNER_REQUIRE_ALL"


def everything_required() -> bool:
    """True when a missing optional server or tool must fail the test, not skip it."""
    return os.environ.get(REQUIRE_ALL) == "1"


def missing(reason: str) -> NoReturn:
    """Skip the test for `reason` (what is missing and how to install it); fail under
    VIBETUNER_REQUIRE_ALL=1."""
    if everything_required():
        pytest.fail(f"{reason}; {REQUIRE_ALL}=1 requires it", pytrace=False)
    pytest.skip(reason)
