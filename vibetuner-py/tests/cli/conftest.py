"""The CLI tests' project: the smallest app `vibetuner run` serves, with one model."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

APP = """
import asyncio
import os

from beanie import Document
from fastapi import APIRouter
from fastapi.responses import FileResponse, StreamingResponse
from vibetuner import create_app
from vibetuner.frontend._middleware import setup_middleware


class Note(Document):
    text: str


router = APIRouter()


@router.post("/notes")
async def add() -> dict[str, int]:
    await Note(text="hello").insert()
    return {"count": await Note.count()}


@router.get("/notes")
async def count() -> dict[str, int]:
    return {"count": await Note.count()}


@router.get("/download")
async def download() -> StreamingResponse:
    async def chunks():
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.get("/file")
async def file() -> FileResponse:
    return FileResponse(os.environ["BIG_FILE"])  # sent by Granian itself (pathsend)


app = create_app(models=[Note])
setup_middleware(app)
app.include_router(router)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    package = tmp_path / "src" / "app" / "frontend"
    package.mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(textwrap.dedent(APP))
    (tmp_path / ".env").write_text("DEBUG=true\nPROJECT_NAME=Lifecycle\n")
    return tmp_path
