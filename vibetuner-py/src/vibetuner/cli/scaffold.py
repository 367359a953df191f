"""`vibetuner scaffold new | update | adopt`: create apps from the template, keep them current."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from vibetuner import __version__
from vibetuner.cli._progress import Output, Steps, run_streaming
from vibetuner.cli._project import (
    ANSWERS_FILE,
    changed_files,
    detect_answers,
    files_with_conflicts,
    read_answers,
    require_clean_git,
    require_vibetuner_project,
)
from vibetuner.cli._template_repo import Snapshot, resolve, snapshot, tags
from vibetuner.exceptions import ScaffoldError

app = typer.Typer(
    help="""Create apps from the Vibetuner template and keep them up to date.

Examples:
  vibetuner scaffold new my-app
  vibetuner scaffold update
  vibetuner scaffold adopt .
""",
    no_args_is_help=True,
)


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


#: Questions whose answer is a list: `--data oauth_providers=google,github` works too.
MULTISELECT = frozenset({"oauth_providers"})


def parse_data(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` answers; a value in [brackets] is a list (e.g. oauth_providers=[google]).
    A key the template does not ask, or a yes/no answer that is neither, is a usage error:
    copier would take the first silently and read any word as yes."""
    import yaml  # type: ignore[import-untyped]  # PyYAML (via copier): off the CLI's startup

    questions = _questions() if pairs else {}
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(
                f"{pair!r} is not key=value (e.g. --data project_name='My App')"
            )
        if key not in questions:
            raise typer.BadParameter(
                f"The template asks no {key!r}; it asks {', '.join(sorted(questions))}."
            )
        if questions[key].get("type") == "bool" and value.strip().lower() not in YES_NO:
            raise typer.BadParameter(f"{key} is yes or no, not {value!r}.")
        if value.strip().startswith("["):
            try:
                data[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                raise typer.BadParameter(
                    f"{key}={value} is not a list like [google, github]."
                ) from None
        elif key in MULTISELECT:
            data[key] = [item.strip() for item in value.split(",") if item.strip()]
        else:
            data[key] = value
    return data


YES_NO = frozenset({"yes", "no", "y", "n", "true", "false", "on", "off", "1", "0"})


def _questions() -> dict[str, dict[str, Any]]:
    """The template's questions (copier.yml's keys that do not start with `_`)."""
    import yaml  # PyYAML (via copier): off the CLI's startup

    loaded = yaml.safe_load((template_source() / "copier.yml").read_text())
    return {
        key: value if isinstance(value, dict) else {}
        for key, value in loaded.items()
        if not key.startswith("_")
    }


def template_data(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers plus what this install knows: its version and where it was installed from."""
    data: dict[str, Any] = {"vibetuner_version": __version__, **answers}
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


def _quiet(_line: str) -> None:
    """Output nobody shows."""


def _run(
    step: str,
    command: Sequence[str],
    cwd: Path,
    retry: str,
    output: Output = _quiet,
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Run one command of a step, its output lines going to `output` as they come."""
    env = {**os.environ, "VIRTUAL_ENV": str(cwd / ".venv"), **(extra_env or {})}
    env.pop("PYTHONPATH", None)
    status, tail = run_streaming(command, cwd, env, output)
    if status != 0:
        raise ScaffoldError(
            f"Step '{step}' failed (exit {status}):\n" + "\n".join(tail),
            fix=f"Fix the cause above, then retry in {cwd}: {retry}",
        )


def _interpreter_for(python_version: str) -> str:
    """This Python when it is new enough for the app, else the version for uv to find."""
    try:
        wanted = tuple(int(part) for part in python_version.split(".")[:2])
    except ValueError:
        return sys.executable
    return sys.executable if sys.version_info[:2] >= wanted else python_version


def install_python(dest: Path, python_version: str, output: Output = _quiet) -> None:
    uv = _tool("uv")
    if uv:
        python = _interpreter_for(python_version)
        # Bytecode now, not at each start (never, where PYTHONDONTWRITEBYTECODE is set),
        # unless UV_COMPILE_BYTECODE says otherwise.
        compile_env = {"UV_COMPILE_BYTECODE": os.environ.get("UV_COMPILE_BYTECODE", "1")}
        command = [uv, "sync", "--extra", "dev", "--python", python]
        flag = " --compile-bytecode" if compile_env["UV_COMPILE_BYTECODE"] != "0" else ""
        retry = f"uv sync --extra dev{flag} --python {python}"
        _run("install Python dependencies", command, dest, retry, output, compile_env)
        return
    venv_python = dest / ".venv" / "bin" / "python"
    _run(
        "create the virtualenv",
        [sys.executable, "-m", "venv", ".venv"],
        dest,
        "python3 -m venv .venv",
        output,
    )
    packages = ["-e", ".[dev]"]
    checkout = local_checkout()
    if checkout is not None:
        packages = ["-e", f"{checkout.python_package}[embedded]", *packages]
    retry = ".venv/bin/pip install " + " ".join(packages)
    _run(
        "install Python dependencies",
        [str(venv_python), "-m", "pip", "install", *packages],
        dest,
        retry,
        output,
    )


def install_js(dest: Path, output: Output = _quiet) -> str:
    """Install JS dependencies with bun when present, else npm; return the runner used."""
    bun = _tool("bun")
    if bun:
        _run("install JS dependencies", [bun, "install"], dest, "bun install", output)
        return bun
    npm = shutil.which("npm")
    if npm is None:
        raise ScaffoldError(
            "Neither bun nor npm is installed, so the frontend cannot be built.",
            fix="Install Node.js 20+ (with npm) or bun, then run `npm install && npm run build`.",
        )
    command = [npm, "install", "--no-audit", "--no-fund"]
    _run("install JS dependencies", command, dest, "npm install", output)
    return npm


def build_assets(dest: Path, runner: str, output: Output = _quiet) -> None:
    retry = f"{Path(runner).name} run build"
    _run("build the assets", [runner, "run", "build"], dest, retry, output)


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


def current_snapshot() -> Snapshot:
    """This install's template, committed to the cache repo under its version's tag."""
    return snapshot(template_source(), __version__)


def _copier_errors() -> tuple[type[Exception], ...]:
    from copier.errors import CopierError  # copier: kept off the CLI's startup

    return (CopierError, ValueError)


def render(
    dest: Path,
    data: dict[str, Any],
    *,
    defaults: bool,
    source: Snapshot | None = None,
    user_defaults: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Render a template version into `dest`; return the answers copier recorded."""
    from copier import run_copy  # copier: kept off the CLI's startup

    if source is None and shutil.which("git") is None:
        # Without git there are no template versions: the app renders, but cannot `update`.
        src_path, ref = str(template_source()), None
    else:
        source = source or current_snapshot()
        src_path, ref = source.src_path, source.tag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            worker = run_copy(
                src_path,
                str(dest),
                data=data,
                user_defaults=user_defaults,
                defaults=defaults,
                quiet=True,
                unsafe=False,
                vcs_ref=ref,
            )
        except _copier_errors() as exc:
            raise ScaffoldError(
                f"The template could not be rendered: {exc}",
                fix="Correct that answer (--data key=value) and retry; "
                "`vibetuner scaffold new --help` shows examples.",
            ) from None
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

    Examples:
      vibetuner scaffold new my-app
      vibetuner scaffold new my-app --defaults --data project_name='My App'
      vibetuner scaffold new api --defaults -d example_app=false -d oauth_providers=[google]
    """
    from rich.console import Console  # rich: kept off the CLI's startup
    from rich.markup import escape

    console = Console(stderr=True, highlight=False)
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ScaffoldError(
            f"{dest} already exists and is not empty.",
            fix="Choose a new folder, or remove that one first.",
        )
    answers: dict[str, str] = {}

    def render_step(_output: Output) -> None:
        answers.update(render(dest, template_data(parse_data(data or [])), defaults=defaults))

    steps: list[tuple[str, Callable[[Output], object]]] = [("Render the template", render_step)]
    if install:
        runner: dict[str, str] = {}
        steps += [
            (
                "Install Python dependencies",
                lambda out: install_python(dest, answers.get("python_version", "3.11"), out),
            ),
            ("Install JS dependencies", lambda out: runner.update(js=install_js(dest, out))),
            ("Build the assets", lambda out: build_assets(dest, runner["js"], out)),
        ]
    no_git = git and shutil.which("git") is None
    if git and not no_git:
        steps.append(
            (
                "git init",
                lambda out: git_init(
                    dest,
                    answers.get("author_name", "Vibetuner"),
                    answers.get("author_email", "dev@example.com"),
                ),
            )
        )
    with Steps(console, len(steps)) as progress:
        for label, step in steps:
            with progress.step(label) as output:
                step(output)
    if no_git:
        console.print(
            "[yellow]git is not installed[/], so the app has no repository yet; "
            "`vibetuner scaffold update` needs one: git init && git add -A && git commit -m init"
        )
    # No address here: `run dev` prints the one it serves (`make demo` passes another port).
    where = shlex.quote(os.path.relpath(dest))
    console.print(
        f"\n[bold]Done.[/] Next: cd {escape(where)} && .venv/bin/vibetuner run dev"
        "  (it prints its address; --port picks another port)"
    )


def _project_option() -> Any:
    return typer.Argument(help="The app's folder (default: the current one).")


@app.command()
def update(
    project: Annotated[Path, _project_option()] = Path(),
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", help="Change an answer, key=value; repeatable."),
    ] = None,
) -> None:
    """Bring the template's changes since this app was made (or last updated) into it.

    Your edits are kept. Where you and the template changed the same lines,
    the file gets conflict markers to resolve by hand, and the exit status is 1.
    The app must be a git repository with everything committed.

    Examples:
      vibetuner scaffold update
      vibetuner scaffold update ../my-app
      vibetuner scaffold update --data fqdn=app.example.com
    """
    from rich.console import Console  # rich: kept off the CLI's startup

    console = Console(stderr=True, highlight=False)
    project = project.resolve()
    require_vibetuner_project(project)
    answers = read_answers(project)
    require_clean_git(project)
    target = current_snapshot()
    old = _old_version(answers, target)
    changes = parse_data(data or [])
    if old == target.tag and not changes:
        console.print(f"[green]✓[/] Already up to date with the template of {old}.")
        return
    with console.status(f"Updating from the template of {old} to {target.tag}…"):
        _run_update(project, target, template_data(changes))
    touched = changed_files(project)
    conflicts = files_with_conflicts(project, [name for _, name in touched])
    for kind, name in touched:
        console.print(f"  {'[red]conflict[/]' if name in conflicts else kind:8} {name}")
    if conflicts:
        raise ScaffoldError(
            f"The update left conflicts in {len(conflicts)} file(s): {', '.join(conflicts)}. "
            "In each, keep what you want between the <<<<<<< / ======= / >>>>>>> markers "
            "and delete the markers.",
            fix="Resolve them, check with `git diff`, then `git add -A && git commit`; "
            "or undo the whole update here with `git checkout HEAD -- . && git clean -fd -- .` "
            "(this folder only).",
        )
    summary = f"{len(touched)} file(s) changed" if touched else "no file changed"
    console.print(
        f"[green]✓[/] Updated to the template of {target.tag}: {summary}. "
        "Review with `git diff`, then commit."
    )


def _old_version(answers: dict[str, Any], target: Snapshot) -> str:
    """The tag the app was last rendered from; it must be in this machine's template repo."""
    old = str(answers.get("_commit") or "")
    recorded = str(answers.get("_src_path") or "")
    if not old.startswith("v") or not recorded:
        raise ScaffoldError(
            f"{ANSWERS_FILE} records no template version (_commit: {old or 'none'}), so there "
            "is no old version to compare with.",
            fix="Re-adopt the template: delete .copier-answers.yml, commit, then run "
            "`vibetuner scaffold adopt` (your files are kept).",
        )
    if resolve(recorded) != target.repo.resolve():
        raise ScaffoldError(
            f"{ANSWERS_FILE} points at the template repo {recorded}; this machine keeps it at "
            f"{target.src_path}.",
            fix=f"Set `_src_path: {target.src_path}` in {ANSWERS_FILE}, commit, and retry.",
        )
    if old not in tags(target.repo):
        version = old.removeprefix("v").split(".post")[0]
        raise ScaffoldError(
            f"The template of {old} (the version this app was made from) is not in "
            f"{target.src_path}: each vibetuner version adds its own there when it runs.",
            fix=f"Add it once with `uvx --from vibetuner=={version} vibetuner scaffold "
            "snapshot`, then retry.",
        )
    return old


def _run_update(project: Path, target: Snapshot, data: dict[str, Any]) -> None:
    from copier import run_update  # copier: kept off the CLI's startup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run_update(
                str(project),
                data=data,
                vcs_ref=target.tag,
                defaults=True,
                overwrite=True,
                skip_answered=True,
                conflict="inline",
                quiet=True,
                unsafe=False,
            )
        except _copier_errors() as exc:
            raise ScaffoldError(
                f"copier could not update {project}: {exc}",
                fix="Fix the cause above; `git status` shows anything it left behind.",
            ) from None


@app.command()
def adopt(
    project: Annotated[Path, _project_option()] = Path(),
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Accept the detected or default answers.")
    ] = False,
    data: Annotated[
        list[str] | None, typer.Option("--data", "-d", help="An answer, key=value; repeatable.")
    ] = None,
) -> None:
    """Add the template to an app that already uses vibetuner, so `update` works on it.

    Answers are detected from the app (pyproject.toml, .env, which parts exist).
    Template files the app lacks are added; its own files are never overwritten.
    Then commit, and run `vibetuner scaffold update` after each upgrade.

    Examples:
      vibetuner scaffold adopt
      vibetuner scaffold adopt ../my-app --defaults --data fqdn=app.example.com
    """
    from rich.console import Console  # rich: kept off the CLI's startup

    console = Console(stderr=True, highlight=False)
    project = project.resolve()
    require_vibetuner_project(project)
    if (project / ANSWERS_FILE).exists():
        raise ScaffoldError(
            f"{project} already has {ANSWERS_FILE}: the template is already adopted.",
            fix="Run `vibetuner scaffold update` instead.",
        )
    require_clean_git(project)
    target = current_snapshot()
    with tempfile.TemporaryDirectory(prefix="vibetuner-adopt-") as scratch:
        rendered = Path(scratch) / project.name
        render(
            rendered,
            template_data(parse_data(data or [])),
            defaults=defaults,
            source=target,
            user_defaults=detect_answers(project),
        )
        added, kept = _merge_new_files(rendered, project)
    console.print(f"[green]✓[/] Adopted the template of {target.tag} ({ANSWERS_FILE} written).")
    for name in added:
        console.print(f"  added {name}")
    if kept:
        console.print(f"  kept your version of {len(kept)} file(s) the template also has")
    console.print("Review with `git status`, then commit: git add -A && git commit")


def _merge_new_files(rendered: Path, project: Path) -> tuple[list[str], list[str]]:
    """Copy rendered files the project lacks; the answers file always. Never overwrite."""
    added: list[str] = []
    kept: list[str] = []
    for path in sorted(p for p in rendered.rglob("*") if p.is_file()):
        name = path.relative_to(rendered).as_posix()
        dest = project / name
        if dest.exists() and name != ANSWERS_FILE:
            kept.append(name)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        added.append(name)
    return added, kept


@app.command("snapshot")
def snapshot_command() -> None:
    """Store this version's template in the local template repo (updates diff against it).

    `new`, `update` and `adopt` do this by themselves. Run it with an older
    vibetuner when `update` reports that an app's version is missing.

    Examples:
      vibetuner scaffold snapshot
      uvx --from vibetuner==0.1.0 vibetuner scaffold snapshot
    """
    target = current_snapshot()
    typer.echo(f"{target.tag} in {target.src_path}")
