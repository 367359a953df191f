"""The archive on disk: a gzipped tar of BSON parts, then a manifest and its checksum.

    data/0000/000001.bson   documents of the manifest's first collection, as stored (raw BSON)
    data/0000/000002.bson   ... in parts of about PART_BYTES each
    manifest.json           canonical Extended JSON: collections, options, indexes, counts,
                            each part's SHA-256, and the migrations the database had applied
    manifest.sha256         the manifest's own SHA-256

Writing streams: one part in memory at a time, and the file appears under its name only once
complete. Reading checks everything (gzip's CRC, each part's SHA-256, the manifest's, no part
missing or extra) in a first pass that touches no database.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import tarfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from bson import json_util

from vibetuner.exceptions import VibetunerError

FORMAT = "vibetuner-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
PART_BYTES = 8 * 1024 * 1024
"""Documents are cut into parts of about this size (uncompressed): the memory one part takes."""
MAX_MEMBER_BYTES = 64 * 1024 * 1024
"""Larger than any part (PART_BYTES plus one server batch) or manifest a backup writes."""
COMPRESS_LEVEL = 6
CHUNK = 1024 * 1024
PART_NAME = re.compile(r"^data/[0-9]{4,}/[0-9]{6,}\.bson$")


class BackupError(VibetunerError):
    """A backup or restore could not finish; the message says what state things are in."""


class ArchiveRefused(BackupError):
    """The archive cannot be restored as it is (damaged, newer code, or the target is full)."""

    exit_code = 2


def reason(exc: BaseException) -> str:
    """A driver error in one line: pymongo's text without its `full error` dump or timeouts."""
    text = str(exc) or type(exc).__name__
    for tail in (", full error:", " (configured timeouts", ", Timeout:"):
        text = text.split(tail, 1)[0]
    return text.strip()


def encode_json(value: Any) -> bytes:
    """Canonical Extended JSON keeps every BSON type (Int64, Decimal128, dates, regexes)."""
    return json_util.dumps(value, json_options=json_util.CANONICAL_JSON_OPTIONS, indent=1).encode()


def decode_json(raw: bytes) -> Any:
    return json_util.loads(raw, json_options=json_util.CANONICAL_JSON_OPTIONS)


def part_name(collection: int, part: int) -> str:
    return f"data/{collection:04d}/{part:06d}.bson"


def split_documents(data: bytes) -> Iterator[memoryview]:
    """Each BSON document in a run of them; a length that does not fit is a damaged part."""
    view = memoryview(data)
    at = 0
    while at < len(view):
        if len(view) - at < 5:
            raise ArchiveRefused("The archive holds a truncated document.")
        size = int.from_bytes(view[at : at + 4], "little")
        if size < 5 or at + size > len(view) or view[at + size - 1] != 0:
            raise ArchiveRefused("The archive holds a damaged document.")
        yield view[at : at + size]
        at += size


def count_documents(data: bytes) -> int:
    return sum(1 for _ in split_documents(data))


class ArchiveWriter:
    """Writes `<path>.partial`, renamed to `path` by `finish`; `abort` removes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = self.partial.open("wb")
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._file, compresslevel=COMPRESS_LEVEL, mtime=0
        )
        self._tar = tarfile.open(  # noqa: SIM115 (closed by finish or abort)
            fileobj=self._gzip, mode="w|", format=tarfile.PAX_FORMAT
        )

    def add(self, name: str, data: bytes) -> str:
        """Store one member; its SHA-256 (hex)."""
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        info.mode = 0o600
        self._tar.addfile(info, io.BytesIO(data))
        return hashlib.sha256(data).hexdigest()

    def finish(self, manifest: dict[str, Any]) -> None:
        """Write the manifest and its checksum last, flush to disk, then take the real name."""
        raw = encode_json(manifest)
        digest = self.add(MANIFEST, raw)
        self.add(MANIFEST_SUM, f"{digest}  {MANIFEST}\n".encode())
        self._tar.close()
        self._gzip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        for closing in (self._tar.close, self._gzip.close, self._file.close):
            with contextlib.suppress(Exception):  # the archive is being thrown away
                closing()
        self.partial.unlink(missing_ok=True)


def _damaged(path: Path, why: object) -> ArchiveRefused:
    return ArchiveRefused(
        f"The archive {path} is damaged: {why}. Nothing was restored.",
        fix="Restore another archive (copy it again if it came over the network).",
    )


class ArchiveReader:
    """The members of an archive in order, read one at a time (gzip's CRC checked at the end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: BinaryIO = path.open("rb")
        except FileNotFoundError:
            raise ArchiveRefused(
                f"No archive at {path}.", fix="Pass the path `vibetuner db backup` wrote."
            ) from None
        except OSError as exc:
            raise ArchiveRefused(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        self._gzip = gzip.GzipFile(filename="", mode="rb", fileobj=self._file)
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
        self._gzip.close()
        self._file.close()

    def next_member(self) -> tuple[str, bytes] | None:
        """The next member's name and bytes; None at the end (after checking the gzip trailer)."""
        try:
            if self._tar is None:
                self._tar = tarfile.open(fileobj=self._gzip, mode="r|")  # noqa: SIM115 (close())
            member = self._tar.next()
            if member is None:
                while self._gzip.read(CHUNK):  # the rest: gzip checks its CRC and length
                    pass
                return None
            if not member.isfile():
                raise _damaged(self.path, f"it holds {member.name!r}, which is not a file")
            if member.size > MAX_MEMBER_BYTES:
                raise _damaged(self.path, f"{member.name!r} is larger than any part it writes")
            handle = self._tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            if len(data) != member.size:
                raise _damaged(self.path, f"{member.name!r} is truncated")
            return member.name, data
        except ArchiveRefused:
            raise
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise _damaged(self.path, str(exc) or type(exc).__name__) from exc


def verify_archive(path: Path) -> dict[str, Any]:
    """Read the whole archive once and return its manifest, or refuse it (ArchiveRefused).

    Every part must be listed in the manifest with its SHA-256, the manifest must match its
    own checksum, and nothing may be missing, repeated or extra.
    """
    seen: dict[str, str] = {}
    manifest_raw: bytes | None = None
    manifest_sum: bytes | None = None
    with ArchiveReader(path) as reader:
        while (member := reader.next_member()) is not None:
            name, data = member
            if name in seen or (name == MANIFEST and manifest_raw is not None):
                raise _damaged(path, f"{name!r} appears twice")
            if name == MANIFEST:
                manifest_raw = data
            elif name == MANIFEST_SUM:
                manifest_sum = data
            elif PART_NAME.match(name):
                seen[name] = hashlib.sha256(data).hexdigest()
            else:
                raise _damaged(path, f"it holds {name!r}, which no backup writes")
    if manifest_raw is None or manifest_sum is None:
        raise _damaged(path, "its manifest is missing (was the backup interrupted?)")
    if manifest_sum.split(b" ", 1)[0].decode(errors="replace") != (
        hashlib.sha256(manifest_raw).hexdigest()
    ):
        raise _damaged(path, "the manifest does not match its checksum")
    manifest = _parse_manifest(path, manifest_raw)
    listed = {
        part["file"]: part["sha256"]
        for collection in manifest["collections"]
        for part in collection.get("parts", [])
    }
    for name, digest in listed.items():
        if name not in seen:
            raise _damaged(path, f"{name} is missing")
        if seen[name] != digest:
            raise _damaged(path, f"the checksum of {name} does not match the manifest")
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise _damaged(path, f"{extra[0]} is not in the manifest")
    return manifest


def _parse_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        manifest = decode_json(raw)
    except ValueError as exc:
        raise _damaged(path, f"its manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveRefused(
            f"{path} is not a vibetuner backup.", fix="Pass an archive `vibetuner db backup` wrote."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArchiveRefused(
            f"{path} was written in backup format {version}; this vibetuner reads up to "
            f"{FORMAT_VERSION}.",
            fix="Restore it with the vibetuner version that wrote it, or a newer one.",
        )
    try:
        for collection in manifest["collections"]:
            if collection["type"] not in ("collection", "view"):
                raise _damaged(path, f"its manifest lists a {collection['type']!r}")
            for part in collection.get("parts", []):
                _ = part["file"], part["sha256"], part["count"]
    except (KeyError, TypeError) as exc:
        raise _damaged(path, f"its manifest lacks {exc}") from exc
    return manifest
