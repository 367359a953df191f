"""An existing app on disk: is it a vibetuner project, is its git tree clean, what it answered."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from vibetuner.cli._template_repo import git_binary
from vibetuner.exceptions import ScaffoldError

ANSWERS_FILE = ".copier-answers.yml"
#: copier's inline conflict markers (`conflict="inline"`) start lines with these.
_CONFLICT = re.compile(r"^(<{7} |>{7} )", re.M)
_PYTHONS = {"3.11", "3.12", "3.13"}
_PROVIDER_KEYS = (
    ("google", "GOOGLE_CLIENT_ID"),
    ("github", "GITHUB_CLIENT_ID"),
    ("oidc", "OIDC_PROVIDERS"),
)
_PROVIDER_KEYS = (
    ("google", "GOOGLE_CLIENT_ID"),
    ("github", "GITHUB_CLIENT_ID"),
    ("oidc", "OIDC_PROVIDERS"),
)


def read_pyproject(project: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((project / "pyproject.toml").read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ScaffoldError(
            f"{project / 'pyproject.toml'} is not valid TOML: {exc}",
            fix="Fix that file, then retry.",
        ) from None


def depends_on_vibetuner(pyproject: dict[str, Any]) -> bool:
    dependencies = pyproject.get("project", {}).get("dependencies", [])
    return any(re.match(r"vibetuner\b(?![-_.\w])", str(dep).strip()) for dep in dependencies)


def require_vibetuner_project(project: Path) -> None:
    if not depends_on_vibetuner(read_pyproject(project)):
        raise ScaffoldError(
            f"{project} is not a vibetuner project (no pyproject.toml depending on vibetuner).",
            fix="Run this inside your app's folder, or create one: vibetuner scaffold new my-app",
        )


def read_answers(project: Path) -> dict[str, Any]:
    """The answers copier recorded, or a one-line fix when there are none."""
    import yaml  # type: ignore[import-untyped]  # PyYAML (via copier): off the CLI's startup

    path = project / ANSWERS_FILE
    if not path.is_file():
        raise ScaffoldError(
            f"{project} has no {ANSWERS_FILE}, so it was not generated from the template.",
            fix=f"Run `vibetuner scaffold adopt {project}` to add the template first.",
        )
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ScaffoldError(
            f"{path} is not a mapping of answers.",
            fix=f"Restore it from git (git checkout -- {ANSWERS_FILE}).",
        )
    return loaded


def _git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [git_binary(), *args], cwd=project, capture_output=True, text=True, check=False
    )


def require_clean_git(project: Path) -> None:
    """copier merges through git: refuse outside git or with uncommitted changes."""
    inside = _git(project, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise ScaffoldError(
            f"{project} is not a git repository; the template merge needs one.",
            fix="git init && git add -A && git commit -m 'Before the template update'",
        )
    status = _git(project, "status", "--porcelain", "--", ".").stdout.strip()
    if status:
        count = len(status.splitlines())
        raise ScaffoldError(
            f"{project} has {count} uncommitted change(s); the update needs a clean git tree.",
            fix="Commit them first: git add -A && git commit -m 'Work in progress'",
        )


def changed_files(project: Path) -> list[tuple[str, str]]:
    """(added|updated|deleted, path) for each file the last operation touched."""
    out = _git(project, "status", "--porcelain", "--untracked-files=all", "--", ".").stdout
    # Porcelain paths start at the repository's root; an app in a subfolder of a bigger
    # repository wants them from its own folder.
    prefix = _git(project, "rev-parse", "--show-prefix").stdout.strip()
    changes = []
    for line in out.splitlines():
        code, name = line[:2], line[3:].strip().strip('"').removeprefix(prefix)
        kind = "added" if code in {"??", "A "} else "deleted" if "D" in code else "updated"
        changes.append((kind, name))
    return sorted(changes, key=lambda change: change[1])


def files_with_conflicts(project: Path, candidates: list[str]) -> list[str]:
    found = []
    for name in candidates:
        path = project / name
        try:
            text = path.read_text(errors="replace")
        except (IsADirectoryError, FileNotFoundError):
            continue
        if _CONFLICT.search(text) and "\n=======\n" in text:
            found.append(name)
    return found


def detect_answers(project: Path) -> dict[str, Any]:
    """Answers for `adopt`, read from what the project already has."""
    meta = read_pyproject(project).get("project", {})
    detected: dict[str, Any] = {}
    if name := str(meta.get("name", "")).strip():
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        detected["project_slug"] = slug
        detected["project_name"] = " ".join(part.capitalize() for part in slug.split("-"))
    if description := str(meta.get("description", "")).strip():
        detected["project_description"] = description
    authors = meta.get("authors") or []
    if authors and isinstance(authors[0], dict):
        if authors[0].get("name"):
            detected["author_name"] = authors[0]["name"]
        if authors[0].get("email"):
            detected["author_email"] = authors[0]["email"]
    requires = re.search(r"3\.([0-9]+)", str(meta.get("requires-python", "")))
    if requires and f"3.{requires.group(1)}" in _PYTHONS:
        detected["python_version"] = f"3.{requires.group(1)}"
    env = _read_env(project / ".env")
    if env.get("DEFAULT_LANGUAGE"):
        detected["default_language"] = env["DEFAULT_LANGUAGE"]
    detected["oauth_providers"] = [name for name, key in _PROVIDER_KEYS if key in env]
    if env.get("STORAGE_BACKEND") in {"local", "s3"}:
        detected["storage_backend"] = env["STORAGE_BACKEND"]
    base_url = re.match(r"https://([^/:]+)", env.get("BASE_URL", ""))
    if base_url and "." in base_url.group(1):
        detected["fqdn"] = base_url.group(1)
    detected["background_jobs"] = (project / "src/app/tasks").is_dir()
    detected["example_app"] = (project / "src/app/frontend/routes/posts.py").is_file()
    return detected


def _read_env(path: Path) -> dict[str, str]:
    """KEY=value lines of a .env file (uncommented only)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#") and key.strip().isidentifier():
            values[key.strip()] = value.strip().strip("'\"")
    return values
