"""Deprecated: `vibetuner.frontend.templating` (Templates) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.templating",
    {
        "get_templates": "vibetuner.frontend._templating",
        "render_template": "vibetuner.frontend._templating",
        "Templates": "vibetuner.frontend._templating",
    },
)
