import vibetuner

EXPECTED = [
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
