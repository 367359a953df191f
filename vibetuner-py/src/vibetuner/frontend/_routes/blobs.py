"""`/blobs/{key}`: the local storage backend's files, for links it signed and that are
still valid. S3 serves its own presigned URLs, so this route answers 404 there."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

from vibetuner.services.storage import InvalidBlobKey, LocalStorage, get_storage

router = APIRouter(prefix="/blobs", include_in_schema=False)


@router.api_route("/{key:path}", methods=["GET", "HEAD"])
async def blob(request: Request, key: str) -> Response:
    """Serve with the stored type, no sniffing, and a download for anything not an image."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        raise HTTPException(404)
    expires = request.query_params.get("exp", "")
    problem = storage.signer.problem(key, expires, request.query_params.get("sig", ""))
    if problem is not None:
        raise HTTPException(403, problem)
    try:
        path = storage.path_of(key)
    except InvalidBlobKey:
        raise HTTPException(404) from None
    if not path.is_file():
        raise HTTPException(404, "This file no longer exists.")
    meta = storage.meta(key)
    max_age = max(0, int(expires) - int(time.time()))
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": meta["content_disposition"],
        "Cache-Control": f"private, max-age={max_age}",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return FileResponse(path, media_type=meta["content_type"], headers=headers)
