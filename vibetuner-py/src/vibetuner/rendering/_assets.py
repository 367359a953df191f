"""Content-hashed asset URLs: `static_url("css/bundle.css")` is `/static/<hash>/css/...`
(behind STATIC_URL's origin when a CDN serves them), so a rebuilt file gets a new URL and
browsers and CDNs may cache every URL for a year."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

HASH_LENGTH = 12


class _Entry(NamedTuple):
    mtime_ns: int
    size: int
    digest: str


class AssetHashes:
    """The files of a directory under content-hashed URLs; `url_for` builds them.

    In prod a file's hash is computed once; with `watch` it is recomputed when the file
    changes, so rebuilt bundles get new URLs without a restart. `base` (STATIC_URL) goes
    before every URL, so pages link a CDN that pulls the same paths from the app.
    """

    def __init__(
        self, directory: Path, *, prefix: str = "/static", watch: bool = False, base: str = ""
    ) -> None:
        self.directory = directory.resolve()
        self.prefix = prefix.rstrip("/")
        self.watch = watch
        self.base = base.rstrip("/")
        self._entries: dict[str, _Entry] = {}

    def resolve(self, relpath: str) -> Path | None:
        """The file under the directory for `relpath`, or None if outside it or missing."""
        if not relpath or "\\" in relpath or "\x00" in relpath:
            return None
        if any(part in ("", ".", "..") for part in relpath.split("/")):
            return None  # one spelling per file: `a/./b` or `a//b` would each be hashed and kept
        candidate = (self.directory / relpath).resolve()
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate

    def digest(self, relpath: str) -> str | None:
        entry = self._entries.get(relpath)
        if entry is not None and not self.watch:
            return entry.digest
        path = self.resolve(relpath)
        if path is None:
            return None
        stat = path.stat()
        if entry is not None and (entry.mtime_ns, entry.size) == (stat.st_mtime_ns, stat.st_size):
            return entry.digest
        digest = _file_digest(path)
        self._entries[relpath] = _Entry(stat.st_mtime_ns, stat.st_size, digest)
        return digest

    def url_for(self, relpath: str) -> str:
        """The hashed URL of a file; a missing file gets a URL that answers 404."""
        return self.base + self.path_for(relpath)

    def path_for(self, relpath: str) -> str:
        """The hashed path of a file on the app itself (no STATIC_URL)."""
        relpath = relpath.lstrip("/")
        digest = self.digest(relpath) or "missing"
        return f"{self.prefix}/{digest}/{relpath}"


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:HASH_LENGTH]
