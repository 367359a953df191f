"""Debug-only live reload: the open page reloads when templates, assets or the server change."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from vibetuner.config import get_settings
from vibetuner.server import _drain

PATH = "/__vibetuner__/livereload"
BOOT_ID = uuid.uuid4().hex
POLL_SECONDS = 0.4

router = APIRouter(include_in_schema=False)


def tree_fingerprint(*directories: Path) -> tuple[int, int]:
    """A cheap signature of some trees (newest mtime, file count): it changes when files do."""
    newest = count = 0
    for directory in directories:
        for root, _dirs, files in os.walk(directory):
            for name in files:
                try:
                    newest = max(newest, os.stat(os.path.join(root, name)).st_mtime_ns)
                except FileNotFoundError:
                    continue
                count += 1
    return newest, count


async def _events(watched: tuple[Path, ...]) -> AsyncIterator[str]:
    """Until the server drains (a reload or a stop): the stream must not hold a stopping
    worker; the page reconnects to the next one, and reloads when its boot id differs."""
    last = await asyncio.to_thread(tree_fingerprint, *watched)
    yield f"retry: 500\nevent: hello\ndata: {BOOT_ID}\n\n"
    ticks = 0
    while not _drain.is_draining():
        with contextlib.suppress(TimeoutError):  # a stop ends the stream at once, not next poll
            await asyncio.wait_for(_drain.wait(), POLL_SECONDS)
        if _drain.is_draining():
            break
        current = await asyncio.to_thread(tree_fingerprint, *watched)
        if current != last:
            last = current
            yield "event: reload\ndata: changed\n\n"
        ticks += 1
        if ticks % 25 == 0:
            yield ": keepalive\n\n"


@router.get(PATH)
async def livereload() -> StreamingResponse:
    settings = get_settings()
    watched = (settings.templates_dir, settings.statics_dir)
    return StreamingResponse(
        _events(watched),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
