"""The admin: `/admin` lists, searches, edits and audits the registered Beanie models.

Built on the framework's own pieces rather than starlette-admin. starlette-admin supports
Beanie, but it brings its own authentication (an `AuthProvider` with its own login form and
session handling), its own Tabler/jQuery templates and form handling, and its own routing
outside FastAPI's dependencies: using it would mean a second auth system beside our
sessions and roles, forms outside our CSRF middleware's expectations, pages that are not
Jinja templates an app can override like its others, and list queries (skip/count, regex
search) that do not stay fast on large collections. Here the admin is a FastAPI router
behind the session's admin role, rendered with the framework's Jinja templates (HTMX,
Tailwind, DaisyUI), protected by the same CSRF middleware, paginated by keyset on indexes.
"""

from __future__ import annotations

from vibetuner.frontend._admin._registry import AdminModel, register_admin, registered
from vibetuner.frontend._admin._routes import ADMIN_ROLE, PREFIX, admin_only, router

__all__ = [
    "ADMIN_ROLE",
    "PREFIX",
    "AdminModel",
    "admin_only",
    "register_admin",
    "registered",
    "router",
]
