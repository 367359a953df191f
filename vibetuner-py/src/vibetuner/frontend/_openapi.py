"""The OpenAPI schema declares the answers the framework gives on the app's routes: a 403
when the CSRF check fails, a 404 where a path names something that may not exist, and the
sign-in redirect (303, or 401 for htmx) on routes that need a signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from vibetuner.frontend._deps import SCHEME

UNSAFE = {"post", "put", "patch", "delete"}
ERROR = "HTTPError"
ERROR_SCHEMA = {
    "title": ERROR,
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ERROR}"}
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}, "text/html": {}},
    }


FORBIDDEN = _error("The request did not come from this site (CSRF check), or is not allowed.")
NOT_FOUND = _error("Nothing exists at this path.")
SIGN_IN = {
    "description": "Not signed in, asking for a page: sent to sign in first (Location).",
    "headers": {"Location": {"schema": {"type": "string"}}},
}
NOT_SIGNED_IN = {
    **_error("Not signed in, from htmx (HX-Redirect to the sign-in page) or asking for JSON."),
    "headers": {"HX-Redirect": {"schema": {"type": "string"}}},
}


def declare_framework_answers(app: FastAPI) -> None:
    """Wrap `app.openapi` (FastAPI's documented way to extend the schema)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_answers(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_answers(schema: dict[str, Any]) -> dict[str, Any]:
    used = False
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            parameters = operation.get("parameters", [])
            if method in UNSAFE:
                used = responses.setdefault("403", FORBIDDEN) is FORBIDDEN or used
            if any(p.get("in") == "path" for p in parameters):
                used = responses.setdefault("404", NOT_FOUND) is NOT_FOUND or used
            security = operation.get("security", [])
            if any(SCHEME in requirement for requirement in security):
                # Without the cookie the request is still answered: with the way to sign in.
                if {} not in security:
                    security.append({})
                responses.setdefault("303", SIGN_IN)
                used = responses.setdefault("401", NOT_SIGNED_IN) is NOT_SIGNED_IN or used
    if used:
        schema.setdefault("components", {}).setdefault("schemas", {})[ERROR] = ERROR_SCHEMA
    return schema
