"""What `run prod`'s launcher loads for its workers, and that it turns the collector back on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import gc, json, sys
from vibetuner.server._preload import preload_framework
preload_framework(redis={redis})
print(json.dumps({{
    "enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "app": "vibetuner.frontend._app" in sys.modules,
    "coredis": "coredis" in sys.modules,
}}))
"""


def _preload(redis: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(redis=redis)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("redis", [False, True])
def test_preload_loads_the_framework_and_freezes_it_with_the_collector_on(redis: bool) -> None:
    found = _preload(redis)
    assert found["app"] is True
    assert found["coredis"] is redis  # an app without REDIS_URL never pays for coredis
    assert found["enabled"] is True
    # FastAPI, Beanie, Jinja2 and the framework: tens of thousands of objects, out of the
    # collector's view, so no worker's collection scans them.
    assert isinstance(found["frozen"], int) and found["frozen"] > 50_000
