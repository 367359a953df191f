"""Deprecated: `vibetuner.frontend.deps` (Who is asking) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.deps",
    {
        "require_user": "vibetuner.frontend._deps",
        "current_user": "vibetuner.frontend._deps",
        "require_role": "vibetuner.frontend._deps",
        "LoginRequired": "vibetuner.frontend._deps",
    },
)
