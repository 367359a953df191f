"""`vibetuner i18n`: extract, init, update and compile on a real project, then serve the result."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import Request
from starlette.responses import Response

from vibetuner.data._embedded import EmbeddedMongo

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")
PAGE = """{% extends "base/skeleton.html.jinja" %}
{% block content %}<h1>{{ _("Welcome") }}</h1>{% endblock %}
"""
CODE = """from vibetuner.i18n import _


def saved() -> str:
    return _("Saved")
"""


def vibetuner(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "VIBETUNER_ENV_FILE": str(cwd / "none")}
    return subprocess.run(
        [VIBETUNER, *args], cwd=cwd, capture_output=True, text=True, env={**base, **env}
    )


def translate(po: Path, msgid: str, msgstr: str) -> None:
    text = po.read_text()
    entry = f'msgid "{msgid}"\nmsgstr ""\n'
    assert entry in text, text
    po.write_text(text.replace(entry, f'msgid "{msgid}"\nmsgstr "{msgstr}"\n'))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "index.html.jinja").write_text(PAGE)
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "texts.py").write_text(CODE)
    return tmp_path


async def test_round_trip_then_the_app_serves_the_catalog(
    project: Path, settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    extracted = vibetuner("i18n", "extract", cwd=project)
    assert extracted.returncode == 0, extracted.stderr
    assert extracted.stdout.strip() == "Extracted 2 messages to translations/messages.pot"
    pot = (project / "translations" / "messages.pot").read_text()
    assert "#: templates/index.html.jinja:2" in pot and "#: src/app/texts.py:5" in pot

    started = vibetuner("i18n", "init", "es", cwd=project)
    assert started.returncode == 0, started.stderr
    po = project / "translations" / "es" / "LC_MESSAGES" / "messages.po"
    assert '"Language: es\\n"' in po.read_text()
    translate(po, "Welcome", "Bienvenida")

    page = PAGE.replace("</h1>", '</h1><p>{{ _("Goodbye") }}</p>')
    (project / "templates" / "index.html.jinja").write_text(page)
    assert vibetuner("i18n", "extract", cwd=project).returncode == 0
    updated = vibetuner("i18n", "update", cwd=project)
    assert updated.returncode == 0 and "Updated translations/es/LC_MESSAGES/messages.po" in (
        updated.stdout
    )
    text = po.read_text()
    assert 'msgid "Goodbye"' in text and 'msgstr "Bienvenida"' in text, "translations survive"

    compiled = vibetuner("i18n", "compile", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    assert "Compiled translations/es/LC_MESSAGES/messages.mo: 1 of 3 messages translated" in (
        compiled.stdout
    )

    from vibetuner import create_app
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.frontend._templating import render_template

    settings_env.setenv("SUPPORTED_LANGUAGES", json.dumps(["en", "es"]))
    settings_env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_cli_{uuid.uuid4().hex[:8]}")
    app = create_app()
    setup_middleware(app)

    @app.get("/")
    async def home(request: Request) -> Response:
        return render_template(request, "index.html.jinja")

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        spanish = await client.get("/", headers={"Accept-Language": "es-MX"})
        english = await client.get("/", headers={"Accept-Language": "en"})
    assert "<h1>Bienvenida</h1><p>Goodbye</p>" in spanish.text, "untranslated stays English"
    assert "<h1>Welcome</h1>" in english.text


def test_bad_arguments_get_one_line_and_an_exit_code(project: Path) -> None:
    invalid = vibetuner("i18n", "init", "xx_invalid", cwd=project)
    assert invalid.returncode == 2
    assert invalid.stderr.strip().count("\n") == 0 and "'xx_invalid'" in invalid.stderr
    assert "Fix: Use a code like es" in invalid.stderr
    no_template = vibetuner("i18n", "update", cwd=project)
    assert no_template.returncode == 1 and "vibetuner i18n extract" in no_template.stderr
    assert "Traceback" not in invalid.stderr + no_template.stderr
    assert vibetuner("i18n", "init", "es", cwd=project).returncode == 0
    again = vibetuner("i18n", "init", "es", cwd=project)
    assert again.returncode == 1 and "already exists" in again.stderr
    broken = project / "translations" / "es" / "LC_MESSAGES" / "messages.po"
    broken.write_text('msgid "a"\nmsgstr "b"\nthis is not gettext\n')
    unreadable = vibetuner("i18n", "compile", cwd=project)
    assert unreadable.returncode == 1 and unreadable.stderr.count("\n") == 1
    assert "messages.po" in unreadable.stderr and "Traceback" not in unreadable.stderr
    nowhere = project / "no-such-folder"
    missing = vibetuner("i18n", "extract", "--root", str(nowhere), cwd=project)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert not nowhere.exists()  # a typo in --root never creates the folder


def test_nothing_to_compile_is_not_an_error(tmp_path: Path) -> None:
    result = vibetuner("i18n", "compile", cwd=tmp_path)
    assert result.returncode == 0 and "No catalogs to compile" in result.stdout


@pytest.mark.parametrize("command", ["extract", "init", "update", "compile"])
def test_every_command_has_help_with_an_example(command: str, tmp_path: Path) -> None:
    result = vibetuner("i18n", command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "Examples" in result.stdout
    assert f"vibetuner i18n {command}" in result.stdout


def test_doctor_reports_languages_without_compiled_catalogs(project: Path) -> None:
    languages = json.dumps(["en", "es", "fr"])
    assert vibetuner("i18n", "init", "es", cwd=project).returncode == 0
    before = vibetuner("doctor", cwd=project, SUPPORTED_LANGUAGES=languages)
    assert "✗ translations: No compiled catalog for fr (served in en)" in before.stdout
    assert "vibetuner i18n init fr" in before.stdout
    (project / "translations" / "es" / "LC_MESSAGES" / "messages.po").touch()
    stale = vibetuner("doctor", cwd=project, SUPPORTED_LANGUAGES=json.dumps(["en", "es"]))
    assert "✓ translations" not in stale.stdout, "es has a .po but no .mo"
    assert vibetuner("i18n", "compile", cwd=project).returncode == 0
    after = vibetuner("doctor", cwd=project, SUPPORTED_LANGUAGES=json.dumps(["en", "es"]))
    assert "✓ translations: en, es compiled" in after.stdout
