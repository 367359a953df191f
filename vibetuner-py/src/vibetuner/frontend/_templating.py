"""Jinja2 rendering: the project's templates first, the framework's defaults second."""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from vibetuner.frontend._folding import Folder, FoldingEnvironment, fold_text
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._sessions import ANONYMOUS
from vibetuner.frontend._static import HashedStatics
from vibetuner.i18n import get_locale

FRAMEWORK_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class _Environment(FoldingEnvironment):
    """Without auto-reload, a loaded template's globals are flattened into one dict: Jinja
    keeps a ChainMap and iterates it for every `{% include %}`. Globals added after a
    template's first use are not seen by it, as with compiled templates generally."""

    def get_template(
        self,
        name: str | jinja2.Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        return self._flat(super().get_template(name, parent, globals))

    def select_template(
        self,
        names: Iterable[str | jinja2.Template],
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        return self._flat(super().select_template(names, parent, globals))

    def _flat(self, template: jinja2.Template) -> jinja2.Template:
        if not self.auto_reload and type(template.globals) is ChainMap:
            template.globals = dict(template.globals)
        return template


class Templates:
    """Jinja2 environments with the globals every page needs: one per served language, so
    fixed calls (translations, static URLs) are folded into each language's compiled pages."""

    def __init__(
        self,
        project_dir: Path | None,
        statics: HashedStatics,
        *,
        debug: bool = False,
        auto_reload: bool = False,
        live_reload: bool = False,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        search = [project_dir] if project_dir is not None and project_dir.is_dir() else []
        self.env = _Environment(
            loader=jinja2.FileSystemLoader([*search, FRAMEWORK_TEMPLATES]),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            auto_reload=auto_reload,
            cache_size=400 if auto_reload else -1,  # -1: a plain dict, no LRU bookkeeping
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            static_url=statics.url_for,
            debug=debug,
            live_reload=live_reload,
            csrf_token=_csrf_token,
            csrf_input=_csrf_input,
            csp_nonce=_csp_nonce,
            current_user=_current_user,
            require_auth=_require_auth,
            **(globals or {}),
        )
        from vibetuner.i18n._jinja import install_i18n, language_folders

        install_i18n(self.env)
        fixed: dict[str, Folder] = (
            {} if statics.watch else {"static_url": fold_text(statics.url_for)}
        )
        per_language = language_folders(self.env)
        self._envs: dict[str, FoldingEnvironment] = {}
        for code, folders in per_language.items():
            env = self._envs[code] = self.env.overlay()  # `self.env` itself folds nothing
            env.folders, env.unfolded = {**fixed, **folders}, self.env
        # A render whose own context binds a folded name gets the unfolded templates.
        self._folded = frozenset().union(*(env.folders for env in self._envs.values()))
        self._default = next(iter(self._envs.values()))
        self._single = len(self._envs) == 1
        self._cache: dict[tuple[int, str], tuple[jinja2.Template, dict[str, Any]]] = {}

    def render_to_string(
        self, name: str, context: Mapping[str, Any] | None = None, *, block: str | None = None
    ) -> str:
        """Render a whole template, or only one of its blocks with the same context."""
        env = self._default if self._single else self._envs.get(get_locale(), self.env)
        if context and not self._folded.isdisjoint(context):
            env = self.env
        template, scope = self._loaded(env, name)
        values = {**scope, **context} if context else scope.copy()
        # Jinja reads only the keys of `globals`: the flat dict has the same ones.
        page = jinja2.runtime.Context(env, values, template.name, template.blocks, globals=scope)
        if block is None:
            render = template.root_render_func
        else:
            try:
                render = template.blocks[block]
            except KeyError:
                raise jinja2.TemplateError(f"Template {name!r} has no block {block!r}") from None
        try:
            return "".join(render(page))
        except Exception:
            env.handle_exception()

    def _loaded(self, env: jinja2.Environment, name: str) -> tuple[jinja2.Template, dict[str, Any]]:
        """The template (compiled for this language) and its globals as one dict. Jinja keeps
        globals in a ChainMap and flattens it on every render; without auto-reload it is
        flattened once (see `_Environment`)."""
        key = (id(env), name)
        found = self._cache.get(key)
        if found is None:
            template = env.get_template(name)
            found = (template, dict(template.globals))
            if not env.auto_reload:
                self._cache[key] = found
        return found

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        block: str | None = None,
        htmx_block: str | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """An HTML response; with `htmx_block`, a partial htmx request gets only that block."""
        if htmx_block is not None and block is None and htmx(request).wants_partial:
            block = htmx_block
        scope = request.scope
        values = {
            "request": request,
            "htmx": htmx(request),
            "nonce": scope.get("csp_nonce", ""),
            "user": scope.get("user", ANONYMOUS),
            "_session": scope.get("session"),  # the skeleton's last check, without a call
            **(context or {}),
        }
        content = self.render_to_string(name, values, block=block)
        response = HTMLResponse(content, status_code=status_code, headers=headers)
        if htmx_block is not None:
            response.headers["Vary"] = "HX-Request"
        return response


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    from vibetuner.frontend._csrf import csrf_token

    return csrf_token(context["request"])


@jinja2.pass_context
def _csrf_input(context: jinja2.runtime.Context) -> Markup:
    from vibetuner.frontend._csrf import csrf_input

    return csrf_input(context["request"])


@jinja2.pass_context
def _csp_nonce(context: jinja2.runtime.Context) -> str:
    request = context.get("request")
    return str(request.scope.get("csp_nonce", "")) if request is not None else ""


@jinja2.pass_context
def _current_user(context: jinja2.runtime.Context) -> Any:
    """The page's `user`: the session's, unless the view passed its own (as a dependency
    override does through the view)."""
    user = context.get("user")
    if user is not None:
        return user
    from vibetuner.frontend._deps import user_of
    from vibetuner.frontend._sessions import ANONYMOUS

    request = context.get("request")
    return user_of(request) if request is not None else ANONYMOUS


@jinja2.pass_context
def _require_auth(context: jinja2.runtime.Context) -> str:
    """Used by base/auth.html.jinja: rendering it for a visitor sends them to sign in."""
    from vibetuner.frontend._deps import signed_in_user

    if not getattr(context.get("user"), "is_authenticated", False):
        signed_in_user(context["request"])
    return ""


@functools.cache
def get_templates() -> Templates:
    """The process's templates, built from settings on first use."""
    from vibetuner.config import get_settings

    settings = get_settings()
    return Templates(
        settings.templates_dir,
        get_statics(),
        debug=settings.debug,
        auto_reload=not settings.is_prod,
        live_reload=settings.live_reload,
        globals={"project_name": settings.project_name, "environment": settings.environment},
    )


@functools.cache
def get_statics() -> HashedStatics:
    from vibetuner.config import get_settings

    settings = get_settings()
    return HashedStatics(settings.statics_dir, watch=not settings.is_prod)


def render_to_string(
    name: str, context: Mapping[str, Any] | None = None, *, block: str | None = None
) -> str:
    """Render outside a request (a live update, an email body): no request, no user."""
    return get_templates().render_to_string(name, context, block=block)


def render_template(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    block: str | None = None,
    htmx_block: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render with the app's templates: the full page, or `htmx_block` for a partial request."""
    return get_templates().render(
        request,
        name,
        context,
        block=block,
        htmx_block=htmx_block,
        status_code=status_code,
        headers=headers,
    )
