"""Blobs as files under `.vibetuner/blobs`, served through HMAC-signed, expiring URLs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode

from vibetuner.config import ascii_int, same_secret
from vibetuner.services.storage._base import (
    DEFAULT_TYPE,
    KEY_PATTERN,
    BlobContent,
    BlobNotFound,
    Counted,
    InvalidBlobKey,
    Storage,
    StorageError,
    check_expiry,
    check_key,
    content_disposition,
)

META_DIR = ".meta"
TEMP_DIR = ".tmp"
"""Both start with a dot, which no key segment can: they never collide with a blob."""


class URLSigner:
    """HMAC-SHA256 over key and expiry, keyed by a value derived from SECRET_KEY."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.new(raw, b"vibetuner.blob-url", hashlib.sha256).digest()

    def signature(self, key: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def problem(
        self, key: str, expires: str, signature: str, now: float | None = None
    ) -> str | None:
        """Why this link must not be served, or None when it is genuine and still valid."""
        when = ascii_int(expires)
        if when is None or not signature:
            return "This link is incomplete or damaged."
        if not same_secret(signature, self.signature(key, when)):
            return "This link is not valid: it was changed or signed by another server."
        if when < (time.time() if now is None else now):
            return "This link has expired. Reload the page to get a fresh one."
        return None


class LocalStorage(Storage):
    """Files on disk, written atomically; the `/blobs` route serves them to browsers."""

    name = "local"

    def __init__(self, root: Path, *, secret: str | bytes, base_url: str = "/blobs") -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.signer = URLSigner(secret)

    def path_of(self, key: str) -> Path:
        """The file for a key; a key that resolves outside the root is refused."""
        path = self.root / check_key(key)
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise InvalidBlobKey(key)
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{check_key(key)}.json"

    async def _write(self, key: str, data: Counted, content_type: str, disposition: str) -> None:
        path = self.path_of(key)
        temp_dir = self.root / TEMP_DIR
        await asyncio.to_thread(temp_dir.mkdir, parents=True, exist_ok=True)
        partial = temp_dir / f"{secrets.token_hex(8)}.part"
        handle: BinaryIO = await asyncio.to_thread(partial.open, "wb")
        try:
            try:
                async for chunk in data:
                    await asyncio.to_thread(handle.write, chunk)
            finally:
                await asyncio.to_thread(handle.close)
            meta = {
                "content_type": content_type,
                "content_disposition": disposition,
                "size": data.size,
                "sha256": data.sha256,
            }
            await asyncio.to_thread(self._commit, partial, path, key, meta)
        except BaseException:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            raise

    def _commit(self, partial: Path, path: Path, key: str, meta: dict[str, Any]) -> None:
        meta_path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_partial = partial.with_suffix(".json")
        meta_partial.write_text(json.dumps(meta))
        os.replace(meta_partial, meta_path)
        os.replace(partial, path)

    def meta(self, key: str) -> dict[str, Any]:
        """What `put` recorded about the blob (type, disposition, size, hash)."""
        try:
            raw = json.loads(self._meta_path(key).read_text())
        except (OSError, ValueError):
            raw = {}
        content_type = str(raw.get("content_type") or DEFAULT_TYPE)
        raw.setdefault("content_type", content_type)
        raw.setdefault("content_disposition", content_disposition(content_type))
        return dict(raw)

    async def get(self, key: str) -> BlobContent:
        path = self.path_of(key)
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        meta = await asyncio.to_thread(self.meta, key)
        return BlobContent(content, meta["content_type"], meta["content_disposition"])

    async def download(self, key: str, path: Path) -> None:
        try:
            await asyncio.to_thread(shutil.copyfile, self.path_of(key), path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(_unlink, path)
        await asyncio.to_thread(_unlink, self._meta_path(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def keys(self, prefix: str) -> list[str]:
        folder = self.path_of(prefix)
        return await asyncio.to_thread(self._keys_under, folder)

    def _keys_under(self, folder: Path) -> list[str]:
        if not folder.is_dir():
            return []
        found = []
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and KEY_PATTERN.fullmatch(key):
                found.append(key)
        return sorted(found)

    async def url(self, key: str, *, expires_in: int) -> str:
        check_key(key)
        expires = int(time.time()) + check_expiry(expires_in)
        query = urlencode({"exp": expires, "sig": self.signer.signature(key, expires)})
        return f"{self.base_url}/{key}?{query}"

    async def check(self) -> str:
        await asyncio.to_thread(self._probe)
        return f"local ({self.root})"

    def _probe(self) -> None:
        probe = self.root / TEMP_DIR / f"probe-{secrets.token_hex(4)}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"Cannot write blobs under {self.root}: {exc.strerror or exc}",
                fix=f"Make {self.root} writable, or set STORAGE_BACKEND=s3.",
            ) from exc


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        path.unlink()
