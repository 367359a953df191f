"""Baseline app: plain Starlette + Jinja2, no FastAPI, no middleware.

Run with: python -m granian --interface asgi bench.raw_app:app
The landing page is padded to about BENCH_PAGE_BYTES bytes (default 8192).
"""

import os

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<main>
<h1>{{ title }}</h1>
{% for row in rows %}<p class="row">{{ row }}</p>
{% endfor %}</main>
</body>
</html>
"""
_ROW = "Lorem ipsum dolor sit amet, consectetur adipiscing elit {}."

_env = Environment(
    loader=DictLoader({"page.html": _PAGE}), autoescape=select_autoescape()
)
_template = _env.get_template("page.html")


def _rows_for(target_bytes: int) -> list[str]:
    rows: list[str] = []
    size = len(_template.render(title="Benchmark", rows=rows).encode())
    while True:
        row = _ROW.format(len(rows))
        cost = len(f'<p class="row">{row}</p>\n'.encode())
        if size + cost > target_bytes:
            return rows
        rows.append(row)
        size += cost


_ROWS = _rows_for(int(os.environ.get("BENCH_PAGE_BYTES", "8192")))


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(_template.render(title="Benchmark", rows=_ROWS))


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/", index), Route("/health/ping", ping)])
