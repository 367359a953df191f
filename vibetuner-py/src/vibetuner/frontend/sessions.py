"""Deprecated: `vibetuner.frontend.sessions` (Sessions) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.sessions",
    {
        "SessionUser": "vibetuner.services.sessions",
        "session_of": "vibetuner.frontend._sessions",
    },
)
