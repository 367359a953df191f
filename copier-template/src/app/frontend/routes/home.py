"""The landing page."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from vibetuner import render_template

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    return render_template(request, "frontend/index.html.jinja")
