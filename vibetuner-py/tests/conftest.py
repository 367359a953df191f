"""Shared fixtures: isolated settings, and real servers (SecantusDB, redis-server) on free ports."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibetuner.config import reset_settings
from vibetuner.testing import RedisServer

_SETTING_VARS = (
    "DATABASE_URL", "DATABASE_NAME", "REDIS_URL", "SECRET_KEY", "ENVIRONMENT", "DEBUG",
    "PROJECT_ROOT", "PROJECT_NAME", "SESSION_MAX_AGE", "VIBETUNER_ENV_FILE",
)  # fmt: skip


_LOCK = Path(__file__).resolve().parents[1] / "constraints.txt"


def pytest_configure(config: pytest.Config) -> None:
    """Apps the tests generate resolve as of the lock's date, as `make test` exports it."""
    found = re.search(r"--exclude-newer (\S+)", _LOCK.read_text())
    if found:
        os.environ.setdefault("UV_EXCLUDE_NEWER", found[1])
        os.environ.setdefault("npm_config_before", found[1])


# The suites `make test-fast` leaves out, by where they live, and how long one of their tests
# (with the app, image or cluster it sets up first) may run before pytest-timeout fails it.
# Everything else gets the default in pyproject.toml (`timeout`).
_HEAVY: dict[str, tuple[str, float]] = {
    "cli/": ("cli", 300),
    "containers/": ("containers", 1800),
    "scale/": ("scale", 900),
    "test_scaffold": ("scaffold", 1200),
    "testing/idp/test_browser.py": ("browser", 300),
}
# Under pytest-xdist (`--dist loadgroup`) one worker runs a whole group: a module, or a suite
# whose session fixtures (the image, the cluster) must start once and whose engine is shared.
_WHOLE_SUITES = ("containers/", "scale/")


# tryfirst: xdist's worker reads the xdist_group marks in this same hook (it suffixes each node
# id with its group), so the marks must be there first whatever order plugins load in.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the heavy suites (cli, containers, scale, scaffold, browser) so `-m` can leave them
    out, give them a longer timeout unless a test sets its own, and group the tests for
    xdist by module (the containers and the cluster by suite)."""
    tests = Path(__file__).resolve().parent
    groups: dict[str, str] = {}
    for item in items:
        where = item.path.resolve().relative_to(tests).as_posix()
        for prefix, (marker, timeout) in _HEAVY.items():
            if where.startswith(prefix):
                item.add_marker(marker)
                if item.get_closest_marker("timeout") is None:
                    item.add_marker(pytest.mark.timeout(timeout))
        suite = next((s for s in _WHOLE_SUITES if where.startswith(s)), where)
        item.add_marker(pytest.mark.xdist_group(suite.rstrip("/")))
        groups[item.nodeid] = suite
    if hasattr(config, "workerinput"):
        # An xdist worker: groups with a slow test go first, so the long ones start early and
        # the short ones fill the gaps. (A group stays in one piece: the sort is stable.)
        slow = {groups[i.nodeid] for i in items if i.get_closest_marker("slow")}
        items.sort(key=lambda i: groups[i.nodeid] not in slow)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment: no settings variables, no .env, project root in tmp_path."""
    for name in _SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIBETUNER_ENV_FILE", str(tmp_path / "missing.env"))
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    reset_settings()
    _reset_caches()
    yield monkeypatch
    reset_settings()
    _reset_caches()


def _reset_caches() -> None:
    from vibetuner import rendering
    from vibetuner.frontend import _templating

    _templating.get_templates.cache_clear()
    _templating.get_statics.cache_clear()
    _templating.get_framework_statics.cache_clear()
    rendering.get_templates.cache_clear()
    rendering.get_assets.cache_clear()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port (make test installs it; skipped elsewhere)."""
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture
def no_app_tasks(restore_task_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No app-defined tasks for this test (test modules define some when collected): an app
    without jobs starts in prod without REDIS_URL. Nor can `app.tasks` be imported, whatever
    an earlier test of this process left importable as `app` (prod imports it to look)."""
    from vibetuner.tasks._registry import APP_TASKS_MODULE, REGISTRY

    for name in [name for name in REGISTRY if not name.startswith("vibetuner.")]:
        del REGISTRY[name]
    monkeypatch.setitem(sys.modules, APP_TASKS_MODULE, None)  # type: ignore[arg-type]


@pytest.fixture
def restore_task_registry() -> Iterator[None]:
    """Tasks a test defines leave with it: a later prod start would count them as the app's
    jobs and refuse to start without REDIS_URL."""
    from vibetuner.tasks._registry import REGISTRY

    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)
