"""Deprecated: `vibetuner.frontend.middleware` (Middleware) moved; import from `vibetuner`."""

from vibetuner._deprecated import moved

__getattr__ = moved(
    "vibetuner.frontend.middleware",
    {
        "setup_middleware": "vibetuner.frontend._middleware",
    },
)
