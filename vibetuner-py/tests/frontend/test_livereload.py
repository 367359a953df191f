import asyncio
from pathlib import Path

import pytest

from vibetuner.frontend._routes import livereload


def test_fingerprint_changes_when_a_file_changes(tmp_path: Path) -> None:
    (tmp_path / "a.jinja").write_text("1")
    before = livereload.tree_fingerprint(tmp_path)
    (tmp_path / "b.jinja").write_text("2")
    assert livereload.tree_fingerprint(tmp_path) != before
    assert livereload.tree_fingerprint(tmp_path / "missing") == (0, 0)


async def test_stream_says_hello_then_reload_on_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(livereload, "POLL_SECONDS", 0.05)
    events = livereload._events((tmp_path,))
    hello = await anext(events)
    assert f"data: {livereload.BOOT_ID}" in hello
    (tmp_path / "page.html.jinja").write_text("changed")
    reload = await asyncio.wait_for(anext(events), 5)
    assert reload.startswith("event: reload")
    await events.aclose()  # type: ignore[attr-defined]
