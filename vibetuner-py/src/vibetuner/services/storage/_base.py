"""The storage interface: bytes under generated keys, and short-lived URLs to fetch them."""

from __future__ import annotations

import abc
import hashlib
import re
import secrets
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from vibetuner.exceptions import VibetunerError

CHUNK_SIZE = 64 * 1024
MAX_KEY_LENGTH = 512
MAX_URL_EXPIRY = 7 * 24 * 3600
"""S3 refuses presigned URLs valid for more than seven days; the local backend follows."""
DEFAULT_TYPE = "application/octet-stream"
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
KEY_PATTERN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,15}}")
"""Segments never start with a dot, so `..`, hidden files and absolute paths cannot match."""

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
"""Raster images a browser may show in place; everything else downloads as an attachment."""
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/avif": ".avif",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}

Data = bytes | AsyncIterable[bytes]


class StorageError(VibetunerError):
    """Blob storage refused an operation or is misconfigured."""


class BlobNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"No blob is stored under {key!r}.")
        self.key = key


class InvalidBlobKey(StorageError, ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"{key[:80]!r} is not a valid blob key.",
            fix="Use new_key(): letters, digits, '-', '_', '.' in '/'-separated segments "
            "that do not start with a dot.",
        )


def check_key(key: str) -> str:
    """The key itself when it is safe as a path everywhere; InvalidBlobKey otherwise."""
    if len(key) > MAX_KEY_LENGTH or not KEY_PATTERN.fullmatch(key):
        raise InvalidBlobKey(key)
    return key


def new_key(prefix: str = "blobs", content_type: str | None = None) -> str:
    """A random key under `prefix`, with an extension from the content type (never a name)."""
    extension = EXTENSIONS.get(content_type or "", "")
    return check_key(f"{prefix.strip('/')}/{secrets.token_hex(16)}{extension}")


def check_expiry(expires_in: int) -> int:
    if not 1 <= expires_in <= MAX_URL_EXPIRY:
        raise ValueError(f"expires_in must be between 1 and {MAX_URL_EXPIRY} seconds")
    return expires_in


def content_disposition(content_type: str, filename: str | None = None) -> str:
    """Inline for raster images, attachment for anything a browser could run or render."""
    kind = "inline" if content_type in INLINE_TYPES else "attachment"
    if not filename:
        return kind
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_name).strip(" .") or "download"
    return f"{kind}; filename=\"{ascii_name[:150]}\"; filename*=UTF-8''{quote(filename[:150])}"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """What a `put` wrote: counted and hashed while streaming, not read back."""

    key: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True, slots=True)
class BlobContent:
    content: bytes
    content_type: str
    content_disposition: str


class Counted:
    """`data` as a stream of non-empty chunks, with the size and SHA-256 of what has passed."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.size = 0
        self._hash = hashlib.sha256()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in chunks(self.data):
            self.size += len(chunk)
            self._hash.update(chunk)
            yield chunk

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


async def chunks(data: Data) -> AsyncIterator[bytes]:
    """Bytes or an async stream, as a stream of non-empty chunks."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        for start in range(0, len(raw), CHUNK_SIZE):
            yield raw[start : start + CHUNK_SIZE]
        return
    async for chunk in data:
        if chunk:
            yield bytes(chunk)


class Storage(abc.ABC):
    """Async blob storage; the local and S3 backends pass the same contract suite."""

    name: str

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str = DEFAULT_TYPE,
        filename: str | None = None,
    ) -> StoredBlob:
        """Store `data` under `key` (replacing it); `filename` only names downloads.

        If the stream raises, nothing is left behind and the error propagates.
        """
        stream = Counted(data)
        disposition = content_disposition(content_type, filename)
        await self._write(check_key(key), stream, content_type, disposition)
        return StoredBlob(key, stream.size, stream.sha256, content_type)

    @abc.abstractmethod
    async def _write(self, key: str, data: Counted, content_type: str, disposition: str) -> None:
        """`put`'s storing: all of `data` or nothing."""

    @abc.abstractmethod
    async def get(self, key: str) -> BlobContent:
        """The stored bytes and their type; BlobNotFound when there are none."""

    @abc.abstractmethod
    async def download(self, key: str, path: Path) -> None:
        """Write the blob to the file `path` a chunk at a time (a backup archive can be
        larger than memory); BlobNotFound, and no file, when there is none."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Forget a blob; unknown keys are ignored."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def keys(self, prefix: str) -> list[str]:
        """Every stored key under the folder `prefix` (no trailing slash), sorted."""

    @abc.abstractmethod
    async def url(self, key: str, *, expires_in: int) -> str:
        """A URL that serves the blob over plain GET until `expires_in` seconds from now."""

    @abc.abstractmethod
    async def check(self) -> str:
        """Prove the backend works (doctor, startup); a one-line summary, or StorageError."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections, if the backend holds any."""
