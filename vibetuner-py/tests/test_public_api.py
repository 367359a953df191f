import importlib
import re
from pathlib import Path

import pytest

import vibetuner

EXPECTED = [
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


def test_public_api_is_curated() -> None:
    assert vibetuner.__all__ == EXPECTED
    assert sorted(vibetuner.__all__) == vibetuner.__all__


def test_every_public_name_resolves() -> None:
    for name in vibetuner.__all__:
        assert getattr(vibetuner, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        vibetuner.does_not_exist  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


TEMPLATE = Path(__file__).resolve().parents[2] / "copier-template"
ALLOWED = {"vibetuner", "vibetuner.testing"}
IMPORT = re.compile(r"(?:from|import)\s+`?(vibetuner(?:\.\w+)*)")


def test_the_generated_app_uses_only_the_public_api() -> None:
    """An app imports from `vibetuner` (and tests from `vibetuner.testing`), nothing deeper:
    in its code, its `.copier` sources and the docs it ships."""
    found = []
    for path in sorted(TEMPLATE.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".copier", ".md"}:
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for module in IMPORT.findall(line):
                    if module not in ALLOWED:
                        found.append(f"{path.relative_to(TEMPLATE)}:{number} {module}")
    assert found == []


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("vibetuner.frontend", "create_app"),
        ("vibetuner.frontend", "render_template"),
        ("vibetuner.frontend.middleware", "setup_middleware"),
        ("vibetuner.frontend.deps", "require_user"),
        ("vibetuner.frontend.errors", "validation_messages"),
        ("vibetuner.frontend.htmx", "hx_trigger"),
        ("vibetuner.frontend.sessions", "SessionUser"),
        ("vibetuner.frontend.sse", "sse_response"),
        ("vibetuner.frontend.templating", "get_templates"),
    ],
)
def test_old_import_paths_still_work_with_a_warning(old: str, name: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"from {old} import {name}"):
        value = getattr(module, name)
    assert value is not None
