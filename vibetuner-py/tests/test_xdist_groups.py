"""`make test` relies on xdist's loadgroup: a module (or the container and cluster suites) runs
whole on one worker, so its module and session fixtures start once. pytest 9.2 with
pytest-xdist 3.8 silently dropped the groups (pytest-xdist#1386); this notices."""

from __future__ import annotations

import pytest


def test_each_test_carries_its_group_under_loadgroup(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("runs under `pytest -n N --dist loadgroup` (make test), not in one process")
    assert request.node.nodeid.endswith("@test_xdist_groups.py"), (
        f"{request.node.nodeid}: xdist did not group this test (see pyproject.toml's pytest bound)"
    )
