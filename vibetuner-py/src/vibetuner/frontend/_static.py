"""Content-hashed static files: `/static/<hash>/css/bundle.css`, cached for a year."""

from __future__ import annotations

from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from vibetuner.rendering import AssetHashes

IMMUTABLE = "public, max-age=31536000, immutable"


class HashedStatics(AssetHashes):
    """Serve the directory under the URLs `url_for` builds; an old hash redirects to the
    current one."""

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
            response = PlainTextResponse("Not Found", status_code=404)
        elif digest != current:
            response = RedirectResponse(self.url_for(relpath), status_code=307)
        else:
            file = self.resolve(relpath)
            assert file is not None
            response = FileResponse(file, headers={"Cache-Control": IMMUTABLE})
        await response(scope, receive, send)
