"""Jinja2 templates: the project's templates first, the framework's defaults second."""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import jinja2.runtime

from vibetuner.config import get_settings
from vibetuner.i18n import get_locale
from vibetuner.rendering._assets import AssetHashes
from vibetuner.rendering._folding import Folder, FoldingEnvironment, fold_text
from vibetuner.rendering._i18n import install_i18n, language_folders

T = TypeVar("T", bound="Templates")

FRAMEWORK_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FRAMEWORK_STATICS = Path(__file__).resolve().parent.parent / "static"
FRAMEWORK_STATIC_PREFIX = "/static/_vibetuner"
"""Where the framework's own scripts are served (`framework_static_url("js/passkeys.js")`)."""


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
    """Jinja2 environments with the globals every template may use: one per served language,
    so fixed calls (translations, static URLs) are folded into each language's compiled
    templates. The web layer adds the request: see `vibetuner.frontend._templating`."""

    def __init__(
        self,
        project_dir: Path | None,
        assets: AssetHashes,
        *,
        framework_assets: AssetHashes | None = None,
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
        framework = framework_assets or framework_statics(watch=assets.watch, base=assets.base)
        self.env.globals.update(
            static_url=assets.url_for,
            framework_static_url=framework.url_for,
            debug=debug,
            live_reload=live_reload,
            **(globals or {}),
        )
        install_i18n(self.env)
        fixed: dict[str, Folder] = {}
        if not assets.watch:
            fixed["static_url"] = fold_text(assets.url_for)
            fixed["framework_static_url"] = fold_text(framework.url_for)
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


def framework_statics(*, watch: bool, base: str) -> AssetHashes:
    """The framework's own static files, under hashed URLs beside the app's."""
    return AssetHashes(FRAMEWORK_STATICS, prefix=FRAMEWORK_STATIC_PREFIX, watch=watch, base=base)


def build_templates(
    cls: type[T], assets: AssetHashes | None = None, framework_assets: AssetHashes | None = None
) -> T:
    """Templates (of class `cls`) as the settings describe them; the web layer passes the
    statics it serves, so a page names the files with the hashes they are served under."""
    settings = get_settings()
    return cls(
        settings.templates_dir,
        assets or get_assets(),
        framework_assets=framework_assets,
        debug=settings.debug,
        auto_reload=not settings.is_prod,
        live_reload=settings.live_reload,
        globals={"project_name": settings.project_name, "environment": settings.environment},
    )


@functools.cache
def get_templates() -> Templates:
    """The process's templates for rendering without a request (email, live updates)."""
    return build_templates(Templates)


@functools.cache
def get_assets() -> AssetHashes:
    settings = get_settings()
    return AssetHashes(
        settings.statics_dir, watch=not settings.is_prod, base=settings.static_url or ""
    )
