"""Rendering without a request: the Jinja environments, folding of fixed calls, asset URLs
and the globals that need no request. Email bodies and live updates render here; the web
layer (`vibetuner.frontend`) adds the request."""

from vibetuner.rendering._assets import AssetHashes
from vibetuner.rendering._templates import (
    FRAMEWORK_STATIC_PREFIX,
    FRAMEWORK_STATICS,
    FRAMEWORK_TEMPLATES,
    Templates,
    build_templates,
    get_assets,
    get_templates,
)

__all__ = [
    "FRAMEWORK_STATICS",
    "FRAMEWORK_STATIC_PREFIX",
    "FRAMEWORK_TEMPLATES",
    "AssetHashes",
    "Templates",
    "build_templates",
    "get_assets",
    "get_templates",
]
