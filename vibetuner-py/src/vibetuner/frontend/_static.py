"""Content-hashed static files: `/static/<hash>/css/bundle.css`, cached for a year, sent as
the `.br` or `.gz` file `build-prod` wrote beside it when the client accepts that coding.

Every file also gets `Access-Control-Allow-Origin: *`: fonts (and crossorigin scripts) that a
CDN serves to the app's pages need it, and the files are public anyway.
"""

from __future__ import annotations

import math
import mimetypes
from pathlib import Path
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from vibetuner.rendering import AssetHashes

IMMUTABLE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"
"""On misses and stale hashes: a CDN must not keep them (the next deploy may fix them)."""
CODINGS = (("br", ".br"), ("gzip", ".gz"))
"""Content codings in order of preference, with the suffix of their precompressed file."""
_TYPES = {".map": "application/json", ".webmanifest": "application/manifest+json"}


class Variant(NamedTuple):
    """One representation of an asset: the file sent, its coding (None: identity), its ETag."""

    path: Path
    coding: str | None
    etag: str


class HashedStatics(AssetHashes):
    """Written, not ServeStatic: ServeStatic gives all codings of a file one ETag (RFC 9110
    8.8.3 wants one each) and finds files by plain path, not under our hash segment."""

    def __init__(
        self, directory: Path, *, prefix: str = "/static", watch: bool = False, base: str = ""
    ) -> None:
        super().__init__(directory, prefix=prefix, watch=watch, base=base)
        self._variants: dict[str, tuple[Variant, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("HashedStatics only serves HTTP")
        if scope["method"] not in ("GET", "HEAD"):
            refusal = PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "GET, HEAD"})
            await refusal(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        path: str = scope["path"]
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        digest, _, relpath = path.lstrip("/").partition("/")
        current = self.digest(relpath)
        response: Response
        if current is None:
            response = PlainTextResponse("Not Found", 404, headers={"Cache-Control": NO_STORE})
        elif digest != current:
            # A path on this host: behind a CDN the browser stays on the CDN.
            location = self.path_for(relpath)
            response = RedirectResponse(location, 307, headers={"Cache-Control": NO_STORE})
        else:
            response = self._response(relpath, Headers(scope=scope))
        await response(scope, receive, send)

    def _response(self, relpath: str, request: Headers) -> Response:
        variants = self.variants(relpath)
        accepted = accepted_codings(request.get("accept-encoding", ""))
        variant = next((v for v in variants if v.coding is None or v.coding in accepted), None)
        if variant is None:  # removed since its hash was checked (dev rebuilds)
            return PlainTextResponse("Not Found", 404, headers={"Cache-Control": NO_STORE})
        headers = {"Cache-Control": IMMUTABLE, "ETag": variant.etag,
                   "Access-Control-Allow-Origin": "*"}  # fmt: skip
        if len(variants) > 1:
            headers["Vary"] = "Accept-Encoding"
        if etag_matches(request.get("if-none-match"), variant.etag):
            return Response(status_code=304, headers=headers)
        if variant.coding is not None:
            headers["Content-Encoding"] = variant.coding
        return FileResponse(variant.path, headers=headers, media_type=media_type(relpath))

    def variants(self, relpath: str) -> tuple[Variant, ...]:
        """The file's representations, preferred first and the file itself last; each ETag is
        that file's own content hash. Found once in prod; in dev (`watch`) on each request,
        where a `.br`/`.gz` older than its file is left from an earlier build and skipped."""
        found = self._variants.get(relpath)
        if found is not None and not self.watch:
            return found
        original, digest = self.resolve(relpath), self.digest(relpath)
        if original is None or digest is None:
            return ()
        modified = original.stat().st_mtime_ns
        variants = []
        for coding, suffix in CODINGS:
            path, coded = self.resolve(relpath + suffix), self.digest(relpath + suffix)
            if path is not None and coded is not None and path.stat().st_mtime_ns >= modified:
                variants.append(Variant(path, coding, f'"{coded}"'))
        found = self._variants[relpath] = (*variants, Variant(original, None, f'"{digest}"'))
        return found


def accepted_codings(header: str) -> frozenset[str]:
    """The codings of CODINGS an Accept-Encoding header takes (q > 0, RFC 9110 12.5.3);
    `*` stands for those it does not name."""
    quality: dict[str, float] = {}
    for item in header.split(","):
        name, *params = item.split(";")
        coding = name.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not (math.isfinite(q) and 0.0 <= q <= 1.0):
                    q = 0.0
        quality["gzip" if coding == "x-gzip" else coding] = q
    wildcard = quality.get("*", 0.0)
    return frozenset(c for c, _ in CODINGS if quality.get(c, wildcard) > 0)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): `*`, or any listed tag, W/ or not."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def media_type(relpath: str) -> str:
    """The asset's own type; a file that is itself compressed (`x.tar.gz`) is opaque bytes."""
    kind, encoding = mimetypes.guess_type(relpath)
    if encoding is not None:
        return "application/octet-stream"
    return _TYPES.get(Path(relpath).suffix.lower()) or kind or "application/octet-stream"
