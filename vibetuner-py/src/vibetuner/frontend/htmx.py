"""Deprecated: `vibetuner.frontend.htmx` (htmx helpers) moved; import from `vibetuner`."""

from vibetuner._lazy import moved

__getattr__ = moved(
    "vibetuner.frontend.htmx",
    {
        "htmx": "vibetuner.frontend._htmx",
        "hx_reswap": "vibetuner.frontend._htmx",
        "hx_retarget": "vibetuner.frontend._htmx",
        "hx_trigger": "vibetuner.frontend._htmx",
        "hx_redirect": "vibetuner.frontend._htmx",
        "hx_push_url": "vibetuner.frontend._htmx",
        "hx_replace_url": "vibetuner.frontend._htmx",
        "hx_refresh": "vibetuner.frontend._htmx",
        "hx_location": "vibetuner.frontend._htmx",
        "HtmxDetails": "vibetuner.frontend._htmx",
    },
)
