"""Deprecated: `vibetuner.frontend.errors` (Error pages) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.errors",
    {
        "validation_messages": "vibetuner.frontend._errors",
        "error_response": "vibetuner.frontend._errors",
    },
)
