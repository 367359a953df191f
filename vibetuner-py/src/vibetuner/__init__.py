"""Vibetuner: full-stack Python web apps on FastAPI, HTMX, MongoDB and Redis.

Everything an app imports comes from here (tests also use `vibetuner.testing`). Names
are imported lazily, so `import vibetuner` and the CLI start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vibetuner._lazy import lazy

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "vibetuner.exceptions",
    "DatabaseUnavailable": "vibetuner.exceptions",
    "EventStreamResponse": "vibetuner.frontend._sse",
    "HtmxDetails": "vibetuner.frontend._htmx",
    "LoginRequired": "vibetuner.frontend._deps",
    "SessionUser": "vibetuner.services.sessions",
    "Settings": "vibetuner.config",
    "SignedIn": "vibetuner.frontend._deps",
    "Storage": "vibetuner.services.storage",
    "UploadRejected": "vibetuner.frontend._uploads",
    "VibetunerError": "vibetuner.exceptions",
    "broadcast": "vibetuner.services.broadcast",
    "cache": "vibetuner.services.cache",
    "cache_page": "vibetuner.frontend._response_cache",
    "cached": "vibetuner.services.cache",
    "close_db": "vibetuner.data._mongo",
    "create_app": "vibetuner.frontend._app",
    "current_user": "vibetuner.frontend._deps",
    "get_broadcaster": "vibetuner.services.broadcast",
    "get_locale": "vibetuner.i18n",
    "get_settings": "vibetuner.config",
    "get_storage": "vibetuner.services.storage",
    "gettext": "vibetuner.i18n",
    "htmx": "vibetuner.frontend._htmx",
    "hx_location": "vibetuner.frontend._htmx",
    "hx_push_url": "vibetuner.frontend._htmx",
    "hx_redirect": "vibetuner.frontend._htmx",
    "hx_refresh": "vibetuner.frontend._htmx",
    "hx_replace_url": "vibetuner.frontend._htmx",
    "hx_reswap": "vibetuner.frontend._htmx",
    "hx_retarget": "vibetuner.frontend._htmx",
    "hx_trigger": "vibetuner.frontend._htmx",
    "init_db": "vibetuner.data._mongo",
    "invalidate_page": "vibetuner.frontend._response_cache",
    "lazy_gettext": "vibetuner.i18n",
    "ngettext": "vibetuner.i18n",
    "render_template": "vibetuner.frontend._templating",
    "render_to_string": "vibetuner.frontend._templating",
    "replica_collection": "vibetuner.data._mongo",
    "require_role": "vibetuner.frontend._deps",
    "require_user": "vibetuner.frontend._deps",
    "save_upload": "vibetuner.frontend._uploads",
    "send_email": "vibetuner.services.email",
    "setup_middleware": "vibetuner.frontend._middleware",
    "sse_response": "vibetuner.frontend._sse",
    "task": "vibetuner.tasks",
    "validation_messages": "vibetuner.frontend._errors",
}

__all__ = [
    "ConfigError",
    "DatabaseUnavailable",
    "EventStreamResponse",
    "HtmxDetails",
    "LoginRequired",
    "SessionUser",
    "Settings",
    "SignedIn",
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
    "get_broadcaster",
    "get_locale",
    "get_settings",
    "get_storage",
    "gettext",
    "htmx",
    "hx_location",
    "hx_push_url",
    "hx_redirect",
    "hx_refresh",
    "hx_replace_url",
    "hx_reswap",
    "hx_retarget",
    "hx_trigger",
    "init_db",
    "invalidate_page",
    "lazy_gettext",
    "ngettext",
    "render_template",
    "render_to_string",
    "replica_collection",
    "require_role",
    "require_user",
    "save_upload",
    "send_email",
    "setup_middleware",
    "sse_response",
    "task",
    "validation_messages",
]

if TYPE_CHECKING:
    from vibetuner.config import Settings, get_settings
    from vibetuner.data._mongo import close_db, init_db, replica_collection
    from vibetuner.exceptions import ConfigError, DatabaseUnavailable, VibetunerError
    from vibetuner.frontend._app import create_app
    from vibetuner.frontend._deps import (
        LoginRequired,
        SignedIn,
        current_user,
        require_role,
        require_user,
    )
    from vibetuner.frontend._errors import validation_messages
    from vibetuner.frontend._htmx import (
        HtmxDetails,
        htmx,
        hx_location,
        hx_push_url,
        hx_redirect,
        hx_refresh,
        hx_replace_url,
        hx_reswap,
        hx_retarget,
        hx_trigger,
    )
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.frontend._response_cache import cache_page, invalidate_page
    from vibetuner.frontend._sse import EventStreamResponse, sse_response
    from vibetuner.frontend._templating import render_template, render_to_string
    from vibetuner.frontend._uploads import UploadRejected, save_upload
    from vibetuner.i18n import get_locale, gettext, lazy_gettext, ngettext
    from vibetuner.services.broadcast import broadcast, get_broadcaster
    from vibetuner.services.cache import cache, cached
    from vibetuner.services.email import send_email
    from vibetuner.services.sessions import SessionUser
    from vibetuner.services.storage import Storage, get_storage
    from vibetuner.tasks import task


__getattr__ = lazy(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
