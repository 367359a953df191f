"""Request handling: the app factory, middleware, routes, templates, htmx and SSE.

The names apps use are exported by `vibetuner`; `create_app` and `render_template` are
still found here for apps generated before, with a DeprecationWarning.
"""

from vibetuner._lazy import moved
from vibetuner.frontend import _convertors  # noqa: F401  (registers `{name:objectid}`)

__getattr__ = moved(
    "vibetuner.frontend",
    {
        "create_app": "vibetuner.frontend._app",
        "render_template": "vibetuner.frontend._templating",
    },
)
