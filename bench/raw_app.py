"""Baseline app: plain Starlette + Jinja2 rendering the demo app's landing page.

Run with: BENCH_APP_DIR=demo python -m granian --interface asgi bench.raw_app:app

It renders the same template files as the app's `/` (the app's `templates/` first, then the
framework's, found by path: this module never imports vibetuner) with the same context and
Jinja's production settings, and provides by hand every global those templates call. The
bench checks that both pages are the same but for per-request values (nonces, CSRF tokens).
It serves the app's default language only: an app serving several (a language switcher,
hreflang links) fails that check.

    BENCH_APP_DIR        the generated app (its templates, .env, translations, statics);
                         unset: the framework's templates only (the bench's --self-test)
    BENCH_FRAMEWORK_DIR  the vibetuner package folder (default: this repo's)
    BENCH_TEMPLATE       the page to render (default: the app's frontend/index.html.jinja,
                         or the framework's base/skeleton.html.jinja without an app)
"""

import gettext
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

_REPO = Path(__file__).resolve().parent.parent
APP_DIR = (
    Path(os.environ["BENCH_APP_DIR"]).resolve()
    if os.environ.get("BENCH_APP_DIR")
    else None
)
FRAMEWORK_DIR = Path(
    os.environ.get("BENCH_FRAMEWORK_DIR") or _REPO / "vibetuner-py/src/vibetuner"
).resolve()
TEMPLATE = os.environ.get("BENCH_TEMPLATE") or (
    "frontend/index.html.jinja" if APP_DIR else "base/skeleton.html.jinja"
)


def _dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of the app's .env, keys upper-cased; quotes around values dropped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if match is None or line.lstrip().startswith("#"):
            continue
        value = match[2].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[match[1].upper()] = value
    return values


# The settings the page shows, read as the framework reads them: environment over .env.
_SETTINGS = {
    **(_dotenv(APP_DIR / ".env") if APP_DIR else {}),
    **{key.upper(): value for key, value in os.environ.items()},
}
PROJECT_NAME = _SETTINGS.get("PROJECT_NAME", "Vibetuner App")
DEFAULT_LANGUAGE = _SETTINGS.get("DEFAULT_LANGUAGE", "en")
ENVIRONMENT = _SETTINGS.get("ENVIRONMENT", "dev").strip().lower()
DEBUG = _SETTINGS.get("DEBUG", "false").strip().lower() in ("1", "true", "yes", "on")


def _language_tag(code: str) -> tuple[str, str]:
    """(`pt_BR`, `pt-BR`) for `pt-br`: the gettext code and the BCP 47 tag."""
    parts = re.split(r"[-_]", code.strip())
    fixed = [parts[0].lower()]
    for part in parts[1:]:
        fixed.append(part.title() if len(part) == 4 else part.upper())
    return "_".join(fixed), "-".join(fixed)


LANGUAGE, LANGUAGE_TAG = _language_tag(DEFAULT_LANGUAGE)


def _translations(code: str) -> gettext.NullTranslations:
    """The compiled catalogs for `code` (then its bare language), the app's before the
    framework's, chained; identity when there are none. Read with the standard library's
    gettext, as the framework reads them."""
    bare = code.split("_", 1)[0]
    directories = [
        *([APP_DIR / "translations"] if APP_DIR else []),
        FRAMEWORK_DIR / "translations",
    ]
    chain: gettext.NullTranslations | None = None
    for directory in directories:
        for candidate in dict.fromkeys([code, bare]):
            path = directory / candidate / "LC_MESSAGES" / "messages.mo"
            if not path.is_file():
                continue
            with path.open("rb") as handle:
                found = gettext.GNUTranslations(handle)
            if chain is None:
                chain = found
            else:
                chain.add_fallback(found)
    return chain or gettext.NullTranslations()


class _Statics:
    """`/static/<sha256[:12]>/<path>`, hashed once per file (prod never re-reads it)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory.resolve() if directory else None
        self._urls: dict[str, str] = {}

    def url_for(self, relpath: str) -> str:
        relpath = relpath.lstrip("/")
        url = self._urls.get(relpath)
        if url is None:
            digest = "missing"
            root = self.directory
            path = (root / relpath).resolve() if root else None
            if (
                path is not None
                and root
                and path.is_relative_to(root)
                and path.is_file()
            ):
                with path.open("rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()[:12]
            url = self._urls[relpath] = f"/static/{digest}/{relpath}"
        return url


class _Anonymous:
    is_authenticated = False
    id = None
    email = None
    display_name = ""
    roles: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return False


ANONYMOUS = _Anonymous()


def _token(request: Request) -> str:
    """A CSRF token per request (the raw app has no sessions to keep one in)."""
    token = request.scope.get("csrf_token")
    if token is None:
        token = request.scope["csrf_token"] = secrets.token_urlsafe(32)
    return str(token)


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    return _token(context["request"])


@jinja2.pass_context
def _csrf_input(context: jinja2.runtime.Context) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(
        _token(context["request"])
    )


@jinja2.pass_context
def _csp_nonce(context: jinja2.runtime.Context) -> str:
    request = context.get("request")
    return str(request.scope.get("csp_nonce", "")) if request is not None else ""


@jinja2.pass_context
def _current_user(context: jinja2.runtime.Context) -> Any:
    request = context.get("request")
    return request.scope.get("user", ANONYMOUS) if request is not None else ANONYMOUS


def _same(path: str) -> str:
    return path


_statics = _Statics(APP_DIR / "assets" / "statics" if APP_DIR else None)
search = [APP_DIR / "templates"] if APP_DIR and (APP_DIR / "templates").is_dir() else []
env = jinja2.Environment(
    loader=jinja2.FileSystemLoader([*search, FRAMEWORK_DIR / "templates"]),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
env.install_gettext_translations(_translations(LANGUAGE), newstyle=True)  # type: ignore[attr-defined]
env.globals.update(
    static_url=_statics.url_for,
    debug=DEBUG,
    live_reload=DEBUG and ENVIRONMENT != "prod",
    csrf_token=_csrf_token,
    csrf_input=_csrf_input,
    csp_nonce=_csp_nonce,
    current_user=_current_user,
    project_name=PROJECT_NAME,
    environment=ENVIRONMENT,
    current_locale=lambda: LANGUAGE,
    html_lang=lambda: LANGUAGE_TAG,
    lang_url=_same,  # one language: URLs carry none
    hreflang_links=lambda: Markup(""),
    languages=[],  # one language: no switcher
)
_template = env.get_template(TEMPLATE)


async def index(request: Request) -> HTMLResponse:
    nonce = request.scope["csp_nonce"] = secrets.token_urlsafe(16)
    context = {"request": request, "nonce": nonce, "user": ANONYMOUS, "_session": None}
    return HTMLResponse(_template.render(context))


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/", index), Route("/health/ping", ping)])
