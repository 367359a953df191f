"""`import vibetuner` and `vibetuner --help` must not pull in the web or database stack."""

import json
import subprocess
import sys

HEAVY = ("fastapi", "starlette", "pymongo", "beanie", "jinja2", "copier", "granian", "coredis",
         "aioboto3", "botocore", "boto3")  # fmt: skip


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_vibetuner_is_light() -> None:
    loaded = _modules_after("import vibetuner")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_cli_help_is_light() -> None:
    code = (
        "import sys; sys.argv = ['vibetuner', '--help']\n"
        "from vibetuner.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = {m.split(".")[0] for m in _modules_after(code)}
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_htmx_helpers_do_not_load_fastapi() -> None:
    """Helpers an app's non-web code may use (htmx, i18n, tasks) stay off the web stack."""
    loaded = {m.split(".")[0] for m in _modules_after("from vibetuner import htmx, gettext, task")}
    assert "fastapi" not in loaded and "jinja2" not in loaded


def test_the_test_plugin_is_thin() -> None:
    """pytest loads the plugin in every test run; it loads test support only in fixtures."""
    loaded = _modules_after("import vibetuner.testing._plugin")
    assert not {m.split(".")[0] for m in loaded} & {*HEAVY, "playwright", "aiosmtpd"}
    assert not {m for m in loaded if m.startswith("vibetuner.testing.")} - {
        "vibetuner.testing._plugin"
    }
