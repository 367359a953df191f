"""The HTML a browser sees at the providers: a sign-in form and an error page.

Plain escaped strings, no templates: a real browser (Playwright) fills the form by field name
and presses "Sign in" or "Deny".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse

ALLOW = "allow"
DENY = "deny"

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


@dataclass(frozen=True)
class Field:
    """One visible input of the sign-in form."""

    name: str
    label: str
    value: str = ""
    kind: str = "text"
    checked: bool = False


def _input(field: Field) -> str:
    name, label = escape(field.name), escape(field.label)
    if field.kind == "checkbox":
        checked = " checked" if field.checked else ""
        return (
            f'<p><label><input type="checkbox" name="{name}" value="true"{checked}> '
            f"{label}</label></p>"
        )
    return (
        f'<p><label for="{name}">{label}</label> '
        f'<input id="{name}" type="{escape(field.kind)}" name="{name}" '
        f'value="{escape(field.value)}"></p>'
    )


def sign_in_page(
    *, title: str, action: str, hidden: Mapping[str, str], fields: Sequence[Field]
) -> HTMLResponse:
    """The consent form; hidden fields carry the authorization request to the POST."""
    carried = "\n".join(
        f'<input type="hidden" name="{escape(key)}" value="{escape(value)}">'
        for key, value in hidden.items()
    )
    inputs = "\n".join(_input(field) for field in fields)
    body = (
        f'<form method="post" action="{escape(action)}">\n{carried}\n{inputs}\n'
        f'<p><button type="submit" name="decision" value="{ALLOW}">Sign in</button> '
        f'<button type="submit" name="decision" value="{DENY}">Deny</button></p>\n</form>'
    )
    return HTMLResponse(_PAGE.format(title=escape(title), body=body))


def error_page(message: str, status: int = 400) -> HTMLResponse:
    """Shown instead of redirecting when the redirect target itself cannot be trusted."""
    body = f'<p role="alert">{escape(message)}</p>'
    return HTMLResponse(_PAGE.format(title="Authorization error", body=body), status_code=status)
