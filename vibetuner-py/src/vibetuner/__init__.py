"""Vibetuner: full-stack Python web apps on FastAPI, HTMX, MongoDB and Redis.

Names are imported lazily, so `import vibetuner` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "vibetuner.exceptions",
    "DatabaseUnavailable": "vibetuner.exceptions",
    "Settings": "vibetuner.config",
    "SessionUser": "vibetuner.frontend.sessions",
    "Storage": "vibetuner.services.storage",
    "UploadRejected": "vibetuner.frontend.uploads",
    "VibetunerError": "vibetuner.exceptions",
    "broadcast": "vibetuner.services.broadcast",
    "cache": "vibetuner.services.cache",
    "cache_page": "vibetuner.frontend.response_cache",
    "cached": "vibetuner.services.cache",
    "close_db": "vibetuner.data._mongo",
    "create_app": "vibetuner.frontend.app",
    "current_user": "vibetuner.frontend.deps",
    "get_locale": "vibetuner.i18n",
    "get_settings": "vibetuner.config",
    "get_storage": "vibetuner.services.storage",
    "gettext": "vibetuner.i18n",
    "htmx": "vibetuner.frontend.htmx",
    "init_db": "vibetuner.data._mongo",
    "invalidate_page": "vibetuner.frontend.response_cache",
    "lazy_gettext": "vibetuner.i18n",
    "ngettext": "vibetuner.i18n",
    "render_template": "vibetuner.frontend.templating",
    "require_user": "vibetuner.frontend.deps",
    "save_upload": "vibetuner.frontend.uploads",
    "send_email": "vibetuner.services.email",
    "setup_middleware": "vibetuner.frontend.middleware",
    "sse_response": "vibetuner.frontend.sse",
    "task": "vibetuner.tasks",
}

__all__ = [
    "ConfigError",
    "DatabaseUnavailable",
    "SessionUser",
    "Settings",
    "Storage",
    "UploadRejected",
    "VibetunerError",
    "__version__",
    "broadcast",
    "cache",
    "cache_page",
    "cached",
    "close_db",
    "create_app",
    "current_user",
    "get_locale",
    "get_settings",
    "get_storage",
    "gettext",
    "htmx",
    "init_db",
    "invalidate_page",
    "lazy_gettext",
    "ngettext",
    "render_template",
    "require_user",
    "save_upload",
    "send_email",
    "setup_middleware",
    "sse_response",
    "task",
]

if TYPE_CHECKING:
    from vibetuner.config import Settings, get_settings
    from vibetuner.data._mongo import close_db, init_db
    from vibetuner.exceptions import ConfigError, DatabaseUnavailable, VibetunerError
    from vibetuner.frontend.app import create_app
    from vibetuner.frontend.deps import current_user, require_user
    from vibetuner.frontend.htmx import htmx
    from vibetuner.frontend.middleware import setup_middleware
    from vibetuner.frontend.response_cache import cache_page, invalidate_page
    from vibetuner.frontend.sessions import SessionUser
    from vibetuner.frontend.sse import sse_response
    from vibetuner.frontend.templating import render_template
    from vibetuner.frontend.uploads import UploadRejected, save_upload
    from vibetuner.i18n import get_locale, gettext, lazy_gettext, ngettext
    from vibetuner.services.broadcast import broadcast
    from vibetuner.services.cache import cache, cached
    from vibetuner.services.email import send_email
    from vibetuner.services.storage import Storage, get_storage
    from vibetuner.tasks import task


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vibetuner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
