"""Debug-only `/dev/outbox`: read the emails the app sent in development, in the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from vibetuner.config import Settings, get_settings
from vibetuner.frontend._templating import render_template
from vibetuner.services.email import outbox_dir
from vibetuner.services.email._local import body_part, list_outbox, outbox_path, read_outbox

# The HTML part is untrusted markup: it runs in an opaque origin with no scripts, no forms,
# no fetches, and only inline styles and images.
EMAIL_HTML_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "img-src data: https: http:; style-src 'unsafe-inline'; font-src data: https:; "
    "frame-ancestors 'self'"
)


def _debug_only() -> None:
    """Belt and braces: even if mounted by mistake, these pages answer only in debug dev."""
    if not get_settings().live_reload:
        raise HTTPException(status_code=404)


router = APIRouter(
    prefix="/dev/outbox", include_in_schema=False, dependencies=[Depends(_debug_only)]
)

NO_STORE = {"Cache-Control": "no-store"}


@router.get("", name="outbox_list")
async def outbox_list(request: Request) -> HTMLResponse:
    """Newest first: date, recipients, subject; the folder as the project names it."""
    settings = get_settings()
    directory = outbox_dir(settings)
    context = {"messages": list_outbox(directory), "directory": _shown(directory, settings)}
    return render_template(request, "dev/outbox_list.html.jinja", context, headers=NO_STORE)


def _shown(directory: Path, settings: Settings) -> str:
    """The folder relative to the project (`.vibetuner/outbox`): the server's own path is
    no business of the page."""
    try:
        return str(directory.relative_to(settings.project_root))
    except ValueError:
        return directory.name


@router.get("/{message_id}", name="outbox_detail")
async def outbox_detail(request: Request, message_id: str) -> HTMLResponse:
    """Headers, the text part, and the HTML part in a sandboxed frame."""
    message = read_outbox(outbox_dir(get_settings()), message_id)
    if message is None:
        raise HTTPException(status_code=404)
    shown = ("Date", "From", "To", "Reply-To", "Subject", "Message-ID")
    headers = [(name, str(message[name])) for name in shown if message[name] is not None]
    extra = [
        (name, str(value))
        for name, value in message.items()
        if name not in shown and name.lower() not in ("content-type", "mime-version")
    ]
    return render_template(
        request,
        "dev/outbox_detail.html.jinja",
        {
            "message_id": message_id,
            "headers": headers + extra,
            "subject": str(message["Subject"] or ""),
            "text": body_part(message, "plain"),
            "has_html": body_part(message, "html") is not None,
        },
        headers=NO_STORE,
    )


@router.get("/{message_id}/html", name="outbox_html")
async def outbox_html(message_id: str) -> HTMLResponse:
    """The HTML part alone, under a CSP sandbox so it cannot script or reach the app."""
    message = read_outbox(outbox_dir(get_settings()), message_id)
    html = body_part(message, "html") if message is not None else None
    if html is None:
        raise HTTPException(status_code=404)
    return HTMLResponse(
        html,
        headers={
            **NO_STORE,
            "Content-Security-Policy": EMAIL_HTML_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/{message_id}/raw", name="outbox_raw")
async def outbox_raw(message_id: str) -> Response:
    """The stored file itself, to open in a mail client."""
    path = outbox_path(outbox_dir(get_settings()), message_id)
    if path is None:
        raise HTTPException(status_code=404)
    return Response(
        path.read_bytes(),
        media_type="message/rfc822",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{path.name}"'},
    )
