"""Receive one file from a multipart form: streamed to storage under a size limit and a
type allow-list, recorded as a `Blob`.

    @router.post("/documents")
    async def upload(request: Request, user: SignedIn) -> Response:
        upload = await save_upload(request, field="file", owner=user.id, prefix="documents")
        ...  # upload.blob (saved), upload.fields (the form's other fields)

The body is parsed as it arrives (never spooled whole): an oversize file is refused with 413
as soon as it crosses the limit, a wrong type with 415 before any byte is stored.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from vibetuner.config import ascii_int, get_settings
from vibetuner.data.models.blob import Blob
from vibetuner.i18n import _
from vibetuner.i18n._format import format_bytes
from vibetuner.services.storage import get_storage, new_key

if TYPE_CHECKING:
    from bson import ObjectId

    from vibetuner.data.models.blob import Blob
    from vibetuner.services.storage import Storage, StoredBlob

FORM_OVERHEAD = 64 * 1024
"""Room for multipart framing and the small fields beside the file (CSRF token, captions)."""
SNIFF_BYTES = 16
DRAIN_LIMIT = 8 * 1024 * 1024
"""After a refusal, read (and drop) at most this much more so the client sees the answer."""
NAME_LIMIT = 255
SNIFFABLE = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "application/pdf"}
)
"""Types recognised by their first bytes: claiming one of them requires those bytes."""
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


class UploadRejected(HTTPException):
    """400, 413 or 415 with a sentence the uploader can act on; rendered like other errors."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code, message)
        self.message = message


@dataclass
class Upload:
    blob: Blob
    fields: dict[str, str] = field(default_factory=dict)


def sniff(head: bytes) -> str | None:
    """The type the first bytes prove, for the formats in SNIFFABLE."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "image/avif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def accepted_type(declared: str, head: bytes, allowed: Collection[str]) -> str:
    """The type to store: what the bytes prove for known formats, else what was declared."""
    declared = declared.split(";", 1)[0].strip().lower() or "application/octet-stream"
    sniffed = sniff(head)
    if sniffed is None and declared in SNIFFABLE:
        raise UploadRejected(
            415, _("The file's content is not a valid %(kind)s.") % {"kind": _label(declared)}
        )
    if sniffed is not None:
        if sniffed not in allowed:
            raise UploadRejected(415, _not_allowed(sniffed, allowed))
        return sniffed
    if declared not in allowed:
        raise UploadRejected(415, _not_allowed(declared, allowed))
    return declared


def _label(content_type: str) -> str:
    subtype = content_type.rsplit("/", 1)[-1].split("+", 1)[0].removeprefix("x-")
    return subtype.upper() if len(subtype) <= 4 else content_type


def _not_allowed(content_type: str, allowed: Collection[str]) -> str:
    kinds = ", ".join(sorted({_label(kind) for kind in allowed})) or _("none")
    return _("%(kind)s files are not accepted here. Accepted: %(kinds)s.") % {
        "kind": _label(content_type),
        "kinds": kinds,
    }


def _too_large(max_bytes: int) -> UploadRejected:
    message = _("The file is too large: the limit is %(size)s.") % {"size": format_bytes(max_bytes)}
    return UploadRejected(413, message)


def safe_name(filename: str) -> str:
    """The client's file name without any path, for display only."""
    name = _UNSAFE_NAME.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:NAME_LIMIT]


class _Parts:
    """python-multipart's callbacks turned into a queue of (event, value) pairs."""

    def __init__(self, boundary: bytes) -> None:
        self.events: deque[tuple[str, Any]] = deque()
        self.finished = False
        self._headers: dict[str, str] = {}
        self._name = b""
        self._value = b""
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._headers.clear,
                "on_header_field": self._on_field,
                "on_header_value": self._on_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": lambda: self.events.append(("part", dict(self._headers))),
                "on_part_data": lambda data, start, end: self.events.append(
                    ("data", bytes(data[start:end]))
                ),
                "on_part_end": lambda: self.events.append(("end", None)),
                "on_end": self._on_end,
            },
        )

    def _on_end(self) -> None:
        self.finished = True

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._name.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._name = self._value = b""


class _Body:
    """The request body as multipart events, counted against the limit as it arrives."""

    def __init__(self, request: Request, boundary: bytes, limit: int, max_bytes: int) -> None:
        self.request = request
        self.parts = _Parts(boundary)
        self.limit = limit
        self.max_bytes = max_bytes
        self.received = 0
        self.complete = False

    async def events(self) -> AsyncGenerator[tuple[str, Any]]:
        try:
            while not self.complete:
                message = await self.request.receive()
                if message["type"] != "http.request":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                self.complete = not message.get("more_body", False)
                self.received += len(chunk)
                if self.received > self.limit:
                    raise _too_large(self.max_bytes)
                self.parts.parser.write(chunk)
                while self.parts.events:
                    yield self.parts.events.popleft()
            self.parts.parser.finalize()
            while self.parts.events:
                yield self.parts.events.popleft()
            if not self.parts.finished:
                raise MultipartParseError("the body ended before the closing boundary")
        except MultipartParseError:
            raise UploadRejected(400, _("The upload is damaged. Please try again.")) from None
        except ClientDisconnect:
            raise UploadRejected(400, _("The upload was interrupted. Please try again.")) from None


def _disposition(headers: dict[str, str]) -> tuple[str, str | None]:
    _, options = parse_options_header(headers.get("content-disposition", ""))
    name = options.get(b"name", b"").decode("utf-8", "replace")
    filename = options.get(b"filename")
    return name, None if filename is None else filename.decode("utf-8", "replace")


class _FileData:
    """The file part's bytes, checked for size on every chunk; the head is read first."""

    def __init__(self, events: AsyncIterator[tuple[str, Any]], max_bytes: int) -> None:
        self.events = events
        self.max_bytes = max_bytes
        self.size = 0
        self.ended = False

    async def _next(self) -> bytes | None:
        async for kind, value in self.events:
            if kind == "end":
                break
            if kind == "data" and value:
                self.size += len(value)
                if self.size > self.max_bytes:
                    raise _too_large(self.max_bytes)
                return bytes(value)
        self.ended = True
        return None

    async def head(self) -> bytes:
        """At least SNIFF_BYTES (or the whole file when shorter), to check the type on."""
        head = b""
        while len(head) < SNIFF_BYTES and (chunk := await self._next()) is not None:
            head += chunk
        return head

    async def stream(self, head: bytes) -> AsyncIterator[bytes]:
        yield head
        while not self.ended and (chunk := await self._next()) is not None:
            yield chunk


async def save_upload(
    request: Request,
    *,
    field: str = "file",
    owner: str | ObjectId | None = None,
    prefix: str = "uploads",
    max_bytes: int | None = None,
    allowed_types: Collection[str] | None = None,
    storage: Storage | None = None,
) -> Upload:
    """Stream the form's `field` file into storage and record it; UploadRejected otherwise.

    Defaults come from UPLOAD_MAX_BYTES and UPLOAD_ALLOWED_TYPES. The key is random under
    `prefix`; the client's file name is kept only as `Blob.original_name`.
    """
    settings = get_settings()
    max_bytes = settings.upload_max_bytes if max_bytes is None else max_bytes
    allowed = [t.lower() for t in (settings.upload_allowed_types if allowed_types is None
                                   else allowed_types)]  # fmt: skip
    storage = storage or get_storage()
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRejected(415, _("Send the file from a form with enctype=multipart/form-data."))
    limit = max_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    length = None if declared is None else ascii_int(declared)
    if declared is not None and length is None:
        raise UploadRejected(400, _("The request's Content-Length is not a number of bytes."))
    if length is not None and length > limit:
        if length <= DRAIN_LIMIT:
            await _discard(request, DRAIN_LIMIT)
        raise _too_large(max_bytes)
    body = _Body(request, boundary, limit, max_bytes)
    events = body.events()
    fields: dict[str, str] = {}
    stored: StoredBlob | None = None
    name = ""
    try:
        async for event, value in events:
            if event != "part":
                continue
            part_name, filename = _disposition(value)
            if filename is None:
                fields[part_name] = await _field_value(events)
            elif part_name == field and stored is None:
                if not filename:
                    raise UploadRejected(400, _("Choose a file to upload."))
                data = _FileData(events, max_bytes)
                head = await data.head()
                if not head:
                    raise UploadRejected(400, _("The file is empty. Choose another file."))
                content_type = accepted_type(value.get("content-type", ""), head, allowed)
                name = safe_name(filename)
                key = new_key(prefix, content_type)
                stored = await storage.put(
                    key, data.stream(head), content_type=content_type, filename=name
                )
    except UploadRejected:
        await events.aclose()
        if not body.complete:
            await _discard(request, DRAIN_LIMIT)
        if stored is not None:
            await storage.delete(stored.key)
        raise
    finally:
        await events.aclose()
    if stored is None:
        raise UploadRejected(400, _("Choose a file to upload."))
    return Upload(await _record(storage, stored, owner, name), fields)


async def _field_value(events: AsyncIterator[tuple[str, Any]]) -> str:
    value = b""
    async for kind, data in events:
        if kind == "end":
            break
        if kind == "data":
            value += data
    return value.decode("utf-8", "replace")


async def _record(
    storage: Storage, stored: StoredBlob, owner: str | ObjectId | None, name: str
) -> Blob:
    """Save the metadata; if that fails, the bytes are removed too."""
    blob = Blob(
        key=stored.key,
        owner=None if owner is None else PydanticObjectId(owner),
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        original_name=name,
    )
    try:
        await blob.insert()
    except BaseException:
        await storage.delete(stored.key)
        raise
    return blob


async def _discard(request: Request, budget: int) -> None:
    """Read and drop what the client is still sending, so it gets to read the refusal.

    Only called while the body is incomplete (else `receive` would wait for a disconnect).
    Past `budget` bytes the server answers anyway and closes the connection.
    """
    while budget > 0:
        message = await request.receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))
