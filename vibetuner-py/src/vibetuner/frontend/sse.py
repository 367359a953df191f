"""Deprecated: `vibetuner.frontend.sse` (Server-Sent Events) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.sse",
    {
        "sse_response": "vibetuner.frontend._sse",
        "EventStreamResponse": "vibetuner.frontend._sse",
    },
)
