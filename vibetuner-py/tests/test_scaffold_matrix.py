"""Every meaningful combination of template answers renders a complete, lint-clean app.

Each combination is rendered and checked (nothing left unrendered, ruff clean, exactly the
parts its answers ask for). Three of them, the minimal and the all-features app among them,
are installed into one shared venv, run their own tests and boot under `vibetuner run prod`.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._scaffold import ROOT, run, serving_prod
from vibetuner.cli._template_repo import IGNORED, Snapshot, snapshot
from vibetuner.cli.scaffold import render, template_data
from vibetuner.testing import local_redis
from vibetuner.testing._required import missing

pytestmark = pytest.mark.slow

UV = str(Path(sys.executable).parent / "uv")
RUFF = str(Path(sys.executable).parent / "ruff")
TEMPLATE = ROOT / "copier-template"
ANSWERS_SOURCE = "{{_copier_conf.answers_file}}.copier"

MINIMAL = {"example_app": False, "background_jobs": False, "oauth_providers": [], "fqdn": ""}
ALL = {
    "example_app": True,
    "background_jobs": True,
    "storage_backend": "s3",
    "fqdn": "app.example.com",
    "oauth_providers": ["google", "github", "oidc"],
    "supported_languages": "en,es",
}
COMBINATIONS: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL,
    "all-features": ALL,
    "defaults": {},
    "example-no-jobs": {**MINIMAL, "example_app": True},
    "jobs-no-example": {
        **MINIMAL,
        "background_jobs": True,
        "oauth_providers": ["google"],
        "fqdn": "jobs.example.org",
    },
    "github-oidc-s3": {**MINIMAL, "oauth_providers": ["github", "oidc"], "storage_backend": "s3"},
    "py313-deploy": {
        **ALL,
        "python_version": "3.13",
        "example_app": False,
        "storage_backend": "local",
        "oauth_providers": ["oidc"],
        "project_name": "Deploy Me",
    },
    "example-s3-no-fqdn": {**ALL, "fqdn": "", "background_jobs": False, "oauth_providers": []},
}
BOOTED = ("minimal", "all-features", "jobs-no-example")

#: `{{`/`{%` a rendered file legitimately keeps: just's own interpolation, documented Jinja.
KEPT_BRACES = {"justfile": ("{{ args }}",), "README.md": ("{{ csrf_input() }}",)}
EXAMPLE_FILES = (
    "src/app/frontend/routes/posts.py",
    "src/app/models/post.py",
    "src/app/services/feed.py",
    "templates/frontend/posts/index.html.jinja",
    "tests/test_posts.py",
    "tests/test_feed.py",
    "tests/test_browser_posts.py",
    "tests/test_browser_admin.py",
)
PROVIDER_KEYS = {
    "google": "GOOGLE_CLIENT_ID=",
    "github": "GITHUB_CLIENT_ID=",
    "oidc": "OIDC_PROVIDERS=[]",
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """This checkout's template as a version in a fresh cache repo."""
    from vibetuner import __version__

    return snapshot(ROOT, __version__, tmp_path_factory.mktemp("cache") / "template")


@pytest.fixture(scope="module")
def rendered(template: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix")
    apps = {}
    for name, answers in COMBINATIONS.items():
        data = template_data({"project_name": f"Matrix {name}", **answers})
        render(root / name, data, defaults=True, source=template)
        apps[name] = root / name
    return apps


def answers_of(name: str) -> dict[str, Any]:
    defaults = {
        "example_app": True,
        "background_jobs": True,
        "oauth_providers": [],
        "fqdn": "",
        "storage_backend": "local",
    }
    return {**defaults, **COMBINATIONS[name]}


def test_there_are_enough_combinations() -> None:
    assert len(COMBINATIONS) >= 8
    assert {"minimal", "all-features"} <= set(BOOTED) and len(BOOTED) >= 3


def source_of(relative: str) -> Path:
    """The template file an output file came from: the same path, `.copier` or templated."""
    plain = TEMPLATE / relative
    if plain.is_file() or plain.with_name(plain.name + ".copier").is_file():
        return plain if plain.is_file() else plain.with_name(plain.name + ".copier")
    for source in TEMPLATE.rglob("*"):
        name = source.relative_to(TEMPLATE).as_posix().removesuffix(".copier")
        if "{" in name and source.is_file():
            pattern = re.sub(r"\\\{[{%].*?[%}]\\\}", ".*", re.escape(name))
            if re.fullmatch(pattern, relative):
                return source
    raise AssertionError(f"{relative} has no source in the template")


@pytest.mark.parametrize("name", COMBINATIONS)
def test_nothing_is_left_unrendered(rendered: dict[str, Path], name: str) -> None:
    """Rendered (.copier) files keep no Jinja; every other file is its source, byte for byte.

    So the app's own templates (and a comment in config.js) keep their Jinja, as they must;
    an app template rendered by copier must be valid Jinja with nothing of copier's left.
    """
    app = rendered[name]
    leftovers = []
    for path in sorted(p for p in app.rglob("*") if p.is_file()):
        relative = path.relative_to(app).as_posix()
        source = (
            TEMPLATE / ANSWERS_SOURCE if relative == ".copier-answers.yml" else source_of(relative)
        )
        if not source.name.endswith(".copier"):
            assert path.read_bytes() == source.read_bytes(), f"{relative} was altered"
            continue
        text = path.read_text()
        if relative.startswith("templates/"):
            assert_app_template(relative, text)
            continue
        for kept in KEPT_BRACES.get(relative, ()):
            assert kept in text, f"{relative} lost {kept}"
            text = text.replace(kept, "")
        if "{{" in text or "{%" in text:
            leftovers.append(relative)
    assert leftovers == []


APP_GLOBALS = {"project_name"}
"""Copier answers that are also template globals the framework gives every page."""


def assert_app_template(relative: str, text: str) -> None:
    """An app template rendered by copier: valid app Jinja, with nothing of copier's left."""
    import jinja2
    import yaml

    answers = yaml.safe_load((ROOT / "copier.yml").read_text())
    questions = [k for k in answers if k[0] != "_" and k not in APP_GLOBALS]
    jinja2.Environment(extensions=["jinja2.ext.i18n"]).parse(text)
    assert "raw %}" not in text, f"{relative} kept a raw block"
    assert not [q for q in questions if q in text], f"{relative} kept a copier question"


@pytest.mark.parametrize("name", COMBINATIONS)
def test_ruff_is_clean(rendered: dict[str, Path], name: str) -> None:
    run([RUFF, "check", "--no-cache", "src", "tests"], rendered[name])
    run([RUFF, "format", "--no-cache", "--check", "src", "tests"], rendered[name])


@pytest.mark.parametrize("name", COMBINATIONS)
def test_each_answer_shapes_the_app(rendered: dict[str, Path], name: str) -> None:
    app, answers = rendered[name], answers_of(name)
    example, jobs = answers["example_app"], answers["background_jobs"]
    for path in EXAMPLE_FILES:
        assert (app / path).exists() == example, path
    frontend = (app / "src/app/frontend/__init__.py").read_text()
    models = (app / "src/app/models/__init__.py").read_text()
    assert ("posts.router" in frontend) == example and ("Post" in models) == example

    assert (app / "src/app/tasks").is_dir() == jobs
    assert (app / "tests/test_tasks.py").exists() == jobs
    justfile = (app / "justfile").read_text()
    assert ("\nworker:" in justfile) == jobs and ("\nworker-dev:" in justfile) == jobs
    for compose in app.glob("compose.*.yml"):
        assert ("\n  worker:\n" in compose.read_text()) == jobs, compose.name

    assert (app / "Dockerfile").is_file(), "the Dockerfile is always generated"
    assert (app / "compose.dev.yml").is_file()
    assert (app / "compose.prod.yml").exists() == bool(answers["fqdn"])
    assert (app / "Caddyfile").exists() == bool(answers["fqdn"])

    env = (app / ".env").read_text()
    for provider, key in PROVIDER_KEYS.items():
        assert (f"\n{key}" in env) == (provider in answers["oauth_providers"]), provider
    s3 = answers["storage_backend"] == "s3"
    # s3 stays commented until its settings are filled in: the app refuses to start without them.
    assert ("\n# STORAGE_BACKEND=s3\n# S3_BUCKET=" in env) == s3
    assert ("\nSTORAGE_BACKEND=local\n" in env) == (not s3)
    pyproject = tomllib.loads((app / "pyproject.toml").read_text())
    s3_extra = any("vibetuner[s3]" in dep for dep in pyproject["project"]["dependencies"])
    assert s3_extra == (s3 or (app / "deploy" / "k8s").is_dir()), "deploy/k8s stores in S3"


def test_caches_in_the_template_never_reach_an_app(tmp_path: Path) -> None:
    """Neither the snapshot nor copier's own _exclude lets a cache folder through."""
    from copier import run_copy

    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "copier-template",
        source / "copier-template",
        ignore=shutil.ignore_patterns(*IGNORED),
    )
    shutil.copy2(ROOT / "copier.yml", source / "copier.yml")
    planted = [
        ".ruff_cache/x",
        ".mypy_cache/x",
        "src/app/__pycache__/x.pyc",
        "node_modules/x/index.js",
        ".venv/bin/python",
        "tests/artifacts/shot.png",
        ".pytest_cache/x",
    ]
    for name in planted:
        (source / "copier-template" / name).parent.mkdir(parents=True, exist_ok=True)
        (source / "copier-template" / name).write_text("cache")
    from_plain_folder = tmp_path / "plain"
    run_copy(str(source), str(from_plain_folder), data=template_data({}), defaults=True, quiet=True)
    from_snapshot = tmp_path / "snap"
    render(
        from_snapshot,
        template_data({}),
        defaults=True,
        source=snapshot(source, "9.9.9", tmp_path / "repo"),
    )
    for app in (from_plain_folder, from_snapshot):
        assert (app / "src/app/__init__.py").is_file()
        assert [name for name in planted if (app / name).exists()] == []
        assert not (app / ".ruff_cache").exists() and not (app / "node_modules").exists()


@pytest.fixture(scope="module")
def shared_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv with vibetuner (editable) and its test tools; each app goes in with --no-deps."""
    if not Path(UV).is_file():
        missing("uv is not installed beside this Python (pip install uv)")
    venv = tmp_path_factory.mktemp("venv") / ".venv"
    run([UV, "venv", "-q", "--python", sys.executable, str(venv)], venv.parent)
    extras = tomllib.loads((ROOT / "vibetuner-py/pyproject.toml").read_text())["project"]
    wanted = [e for e in ("embedded", "test", "s3") if e in extras["optional-dependencies"]]
    run(
        [
            UV,
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(venv / "bin/python"),
            "ruff>=0.8",
            "-e",
            f"{ROOT / 'vibetuner-py'}[{','.join(wanted)}]",
        ],
        venv.parent,
    )
    return venv


@pytest.fixture
def installed(
    request: pytest.FixtureRequest, rendered: dict[str, Path], shared_venv: Path
) -> Iterator[Path]:
    app: Path = rendered[request.param]
    python = str(shared_venv / "bin/python")
    run([UV, "pip", "install", "-q", "--python", python, "--no-deps", "-e", str(app)], app)
    try:
        yield app
    finally:
        slug = tomllib.loads((app / "pyproject.toml").read_text())["project"]["name"]
        run([UV, "pip", "uninstall", "-q", "--python", python, slug], app)


@pytest.mark.parametrize("installed", BOOTED, indirect=True)
def test_app_passes_its_tests_and_boots(installed: Path, shared_venv: Path, tmp_path: Path) -> None:
    app = installed
    answers = answers_of(app.name)
    bin_dir = shared_venv / "bin"
    # The browser journeys are test_scaffold.py's job (the default app); here: everything else.
    out = run([str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider", "-k", "not browser"], app)
    assert " passed" in out and "failed" not in out and "error" not in out.lower()
    with local_redis(tmp_path) if answers["background_jobs"] else nullcontext() as redis:
        env = {"REDIS_URL": redis} if redis else {}
        with serving_prod(app, str(bin_dir / "vibetuner"), tmp_path, **env) as (base, _):
            home = httpx.get(f"{base}/")
            assert home.status_code == 200 and f"Matrix {app.name}" in home.text
            posts = httpx.get(f"{base}/posts")
            assert posts.status_code == (200 if answers["example_app"] else 404)
            assert ('href="/posts"' in home.text) == answers["example_app"]
