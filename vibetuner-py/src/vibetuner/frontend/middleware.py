"""Deprecated: `vibetuner.frontend.middleware` (Middleware) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.middleware",
    {
        "setup_middleware": "vibetuner.frontend._middleware",
    },
)
