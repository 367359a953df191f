"""`vibetuner scaffold new`: render the bundled template, install the app, build its assets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from vibetuner.exceptions import ScaffoldError

app = typer.Typer(help="Create and update apps from the Vibetuner template.", no_args_is_help=True)


def template_source() -> Path:
    """The template that ships with this install: in the wheel, else in the source checkout."""
    package = Path(__file__).resolve().parent.parent
    bundled = package / "_template"
    if (bundled / "copier.yml").is_file():
        return bundled
    for parent in package.parents:
        if (parent / "copier.yml").is_file() and (parent / "copier-template").is_dir():
            return parent
    raise ScaffoldError(
        "The project template is missing from this vibetuner install.",
        fix="Reinstall vibetuner (pip install --force-reinstall vibetuner).",
    )


@dataclass(frozen=True)
class LocalCheckout:
    """Where vibetuner was installed from, when that is a folder rather than an index."""

    python_package: Path
    js_package: Path | None


def local_checkout() -> LocalCheckout | None:
    """The checkout vibetuner came from (editable or path install), per PEP 610."""
    from importlib import metadata
    from urllib.parse import unquote, urlsplit

    try:
        raw = metadata.distribution("vibetuner").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        raw = None
    location: Path | None = None
    if raw:
        url = json.loads(raw).get("url", "")
        if url.startswith("file://"):
            location = Path(unquote(urlsplit(url).path))
    if location is None or not (location / "pyproject.toml").is_file():
        return None
    js = location.parent / "vibetuner-js"
    return LocalCheckout(location, js if (js / "package.json").is_file() else None)


def parse_data(pairs: Sequence[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"{pair!r} is not key=value (e.g. --data project_name='My App')"
            )
        data[key.strip()] = value
    return data


def template_data(answers: dict[str, str]) -> dict[str, str]:
    from vibetuner import __version__

    data = {"vibetuner_version": __version__, **answers}
    checkout = local_checkout()
    if checkout is not None:
        data.setdefault("vibetuner_py_path", str(checkout.python_package))
        if checkout.js_package is not None:
            data.setdefault("vibetuner_js_dependency", f"file:{checkout.js_package}")
    data.setdefault("vibetuner_js_dependency", f"^{__version__}")
    return data


def _tool(name: str) -> str | None:
    """A command on PATH or beside this Python (a venv's bin/)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def _run(step: str, command: Sequence[str], cwd: Path, retry: str) -> None:
    env = {**os.environ, "VIRTUAL_ENV": str(cwd / ".venv")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-8:]
        raise ScaffoldError(
            f"Step '{step}' failed (exit {result.returncode}):\n" + "\n".join(output),
            fix=f"Fix the cause above, then retry in {cwd}: {retry}",
        )


def _interpreter_for(python_version: str) -> str:
    """This Python when it is new enough for the app, else the version for uv to find."""
    try:
        wanted = tuple(int(part) for part in python_version.split(".")[:2])
    except ValueError:
        return sys.executable
    return sys.executable if sys.version_info[:2] >= wanted else python_version


def install_python(dest: Path, python_version: str) -> None:
    uv = _tool("uv")
    if uv:
        python = _interpreter_for(python_version)
        command = [uv, "sync", "--extra", "dev", "--python", python]
        _run("install Python dependencies", command, dest, f"uv sync --extra dev --python {python}")
        return
    venv_python = dest / ".venv" / "bin" / "python"
    _run(
        "create the virtualenv",
        [sys.executable, "-m", "venv", ".venv"],
        dest,
        "python3 -m venv .venv",
    )
    packages = ["-e", ".[dev]"]
    checkout = local_checkout()
    if checkout is not None:
        packages = ["-e", f"{checkout.python_package}[embedded]", *packages]
    retry = ".venv/bin/pip install " + " ".join(packages)
    _run(
        "install Python dependencies",
        [str(venv_python), "-m", "pip", "install", "-q", *packages],
        dest,
        retry,
    )


def install_js(dest: Path) -> str:
    """Install JS dependencies with bun when present, else npm; return the runner used."""
    bun = _tool("bun")
    if bun:
        _run("install JS dependencies", [bun, "install"], dest, "bun install")
        return bun
    npm = shutil.which("npm")
    if npm is None:
        raise ScaffoldError(
            "Neither bun nor npm is installed, so the frontend cannot be built.",
            fix="Install Node.js 20+ (with npm) or bun, then run `npm install && npm run build`.",
        )
    _run(
        "install JS dependencies", [npm, "install", "--no-audit", "--no-fund"], dest, "npm install"
    )
    return npm


def build_assets(dest: Path, runner: str) -> None:
    _run("build the assets", [runner, "run", "build"], dest, f"{Path(runner).name} run build")


def git_init(dest: Path, author: str, email: str) -> None:
    git = shutil.which("git")
    if git is None or (dest / ".git").exists():
        return
    identity = ["-c", f"user.name={author}", "-c", f"user.email={email}"]
    _run("git init", [git, "init", "-q", "-b", "main"], dest, "git init")
    _run("git add", [git, "add", "-A"], dest, "git add -A")
    _run(
        "first commit",
        [git, *identity, "commit", "-q", "-m", "Start from the Vibetuner template"],
        dest,
        "git commit -m 'Start from the Vibetuner template'",
    )


def render(dest: Path, data: dict[str, str], *, defaults: bool) -> dict[str, str]:
    """Render the template into `dest`; return the answers copier recorded."""
    import warnings

    from copier import run_copy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker = run_copy(
            str(template_source()),
            str(dest),
            data=data,
            defaults=defaults,
            quiet=True,
            unsafe=False,
            vcs_ref="HEAD",
        )
    return {key: str(value) for key, value in worker.answers.combined.items()}


@app.command()
def new(
    dest: Annotated[Path, typer.Argument(help="Folder to create the app in.")],
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Accept every default answer.")
    ] = False,
    data: Annotated[
        list[str] | None, typer.Option("--data", "-d", help="An answer, key=value; repeatable.")
    ] = None,
    install: Annotated[
        bool, typer.Option("--install/--no-install", help="Install dependencies.")
    ] = True,
    git: Annotated[
        bool, typer.Option("--git/--no-git", help="git init with a first commit.")
    ] = True,
) -> None:
    """Create a new app in DEST, install it and build its assets.

    Example: vibetuner scaffold new my-app --defaults --data project_name='My App'
    """
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        raise ScaffoldError(
            f"{dest} already exists and is not empty.",
            fix="Choose a new folder, or remove that one first.",
        )
    answers: dict[str, str] = {}

    def render_step() -> None:
        answers.update(render(dest, template_data(parse_data(data or [])), defaults=defaults))

    steps: list[tuple[str, Callable[[], object]]] = [("Render the template", render_step)]
    if install:
        runner: dict[str, str] = {}
        steps += [
            (
                "Install Python dependencies",
                lambda: install_python(dest, answers.get("python_version", "3.11")),
            ),
            ("Install JS dependencies", lambda: runner.update(js=install_js(dest))),
            ("Build the assets", lambda: build_assets(dest, runner["js"])),
        ]
    if git:
        steps.append(
            (
                "git init",
                lambda: git_init(
                    dest,
                    answers.get("author_name", "Vibetuner"),
                    answers.get("author_email", "dev@example.com"),
                ),
            )
        )
    for label, step in steps:
        with console.status(f"{label}…"):
            step()
        console.print(f"[green]✓[/] {label}")
    console.print(
        f"\n[bold]Done.[/] Next: cd {dest.name} && .venv/bin/vibetuner run dev  "
        "→ http://127.0.0.1:8000"
    )
