"""The web layer: app factory, middleware, templates, htmx helpers and static files."""

from vibetuner.frontend import _convertors  # noqa: F401  (registers `{name:objectid}`)
from vibetuner.frontend.app import create_app
from vibetuner.frontend.templating import render_template

__all__ = ["create_app", "render_template"]
