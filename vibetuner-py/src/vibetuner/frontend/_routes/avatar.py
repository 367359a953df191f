"""The profile picture: upload it, and a stable URL that redirects to a fresh storage link.

`User.avatar_url` keeps the stable `/account/avatar/{blob id}`: signed and presigned links
expire, so each view is redirected to a new one (local `/blobs/...` or the S3 bucket).
"""

from __future__ import annotations

from typing import Annotated

from beanie import PydanticObjectId
from fastapi import APIRouter, Depends, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from vibetuner.config import get_settings
from vibetuner.data.models.blob import Blob
from vibetuner.data.models.user import User
from vibetuner.frontend._deps import require_user
from vibetuner.frontend._errors import wants_html
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._sessions import session_of
from vibetuner.frontend._templating import render_template
from vibetuner.frontend._uploads import UploadRejected, save_upload
from vibetuner.services.auth import refresh_session_user
from vibetuner.services.sessions import SessionUser
from vibetuner.services.storage import blob_url, remove_blob

router = APIRouter(prefix="/account", include_in_schema=False)
SignedIn = Annotated[SessionUser, Depends(require_user)]
TEMPLATE = "account/profile.html.jinja"  # its "avatar" block is the partial
AVATAR_PATH = "/account/avatar/"
AVATAR_PREFIX = "avatars"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")
REDIRECT_MAX_AGE = 300
"""Browsers may reuse a redirect this long; it must end well before the link it points to."""


def avatar_types() -> list[str]:
    """The allowed upload types that are images (avatars are never PDFs)."""
    allowed = [t for t in get_settings().upload_allowed_types if t in IMAGE_TYPES]
    return allowed or list(IMAGE_TYPES)


@router.post("/avatar")
async def upload_avatar(request: Request, user: SignedIn) -> Response:
    try:
        upload = await save_upload(
            request, field="avatar", owner=user.id, prefix=AVATAR_PREFIX,
            allowed_types=avatar_types(),
        )  # fmt: skip
    except UploadRejected as exc:
        if not (htmx(request) and wants_html(request)):
            raise
        context = {"account": user, "errors": [exc.message]}
        return render_template(
            request, TEMPLATE, context, block="avatar", status_code=exc.status_code
        )
    account_id = PydanticObjectId(user.id)
    try:
        swapped, previous = await _swap_avatar(account_id, f"{AVATAR_PATH}{upload.blob.id}")
    except HTTPException:
        await remove_blob(upload.blob)
        raise
    account = await User.get(account_id) if swapped else None
    if account is None:
        await remove_blob(upload.blob)
        raise HTTPException(404, "This account no longer exists.")
    request.scope["user"] = refresh_session_user(session_of(request), account)
    if previous is not None:
        old = await Blob.get(previous)
        if old is not None and old.owner == account.id:
            await remove_blob(old)
    if not htmx(request):
        return RedirectResponse("/account", status_code=303)
    return render_template(request, TEMPLATE, {"account": account, "errors": []}, block="avatar")


SWAP_TRIES = 50
"""Uploads of one account at once retry their swap; each retry means another one landed."""


async def _swap_avatar(
    account_id: PydanticObjectId, url: str
) -> tuple[bool, PydanticObjectId | None]:
    """Set the avatar only if it is still the one just read (compare and set), so each of two
    uploads at once knows the picture it replaced and removes it, and no other field of the
    account is written back. (False, None) when the account is gone."""
    collection = User.get_pymongo_collection()
    for _ in range(SWAP_TRIES):
        current = await collection.find_one({"_id": account_id}, {"avatar_url": True})
        if current is None:
            return False, None
        before = current.get("avatar_url")
        done = await collection.update_one(
            {"_id": account_id, "avatar_url": before}, {"$set": {"avatar_url": url}}
        )
        if done.matched_count:
            return True, _blob_id(before if isinstance(before, str) else None)
    raise HTTPException(409, "The picture changed too often at once; try again.")


@router.get("/avatar/{blob_id}")
async def avatar(blob_id: str) -> Response:
    """Anyone may see a profile picture: redirect to a short-lived link to its bytes."""
    found = await Blob.get(object_id) if (object_id := _object_id(blob_id)) else None
    if found is None or not found.key.startswith(f"{AVATAR_PREFIX}/"):
        raise HTTPException(404, "This picture does not exist.")
    expiry = get_settings().storage_url_expiry
    headers = {"Cache-Control": f"private, max-age={min(REDIRECT_MAX_AGE, expiry // 2)}"}
    return RedirectResponse(await blob_url(found, expiry), status_code=302, headers=headers)


def _object_id(value: str) -> PydanticObjectId | None:
    try:
        return PydanticObjectId(value)
    except Exception:
        return None


def _blob_id(avatar_url: str | None) -> PydanticObjectId | None:
    if not avatar_url or not avatar_url.startswith(AVATAR_PATH):
        return None
    return _object_id(avatar_url.removeprefix(AVATAR_PATH))
