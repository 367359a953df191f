"""`vibetuner vendor`: the framework's wheel and JS tarball in packages/, for image builds."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from vibetuner.cli.scaffold import local_checkout
from vibetuner.exceptions import ScaffoldError

WHEEL_GLOB = "vibetuner-*.whl"
TARBALL_GLOB = "alltuner-vibetuner-*.tgz"


def _python_builder() -> list[str] | None:
    """uv (beside this Python, on PATH or importable), else pip; None when neither is here."""
    beside = Path(sys.executable).parent / "uv"
    uv = str(beside) if beside.is_file() else shutil.which("uv")
    if uv:
        return [uv, "build", "--wheel", "--out-dir"]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv", "build", "--wheel", "--out-dir"]
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w"]
    return None


def _step(label: str, command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ScaffoldError(
            f"Could not {label} (exit {result.returncode}):\n{tail}",
            fix=f"Fix the cause above, then re-run `vibetuner vendor` ({' '.join(command[:3])}…).",
        )


def vendor_into(dest: Path, python_package: Path, js_package: Path | None) -> list[Path]:
    """Replace the builds in `dest` with fresh ones of this checkout; return the new files."""
    builder = _python_builder()
    if builder is None:
        raise ScaffoldError(
            "Neither uv nor pip is available to build the vibetuner wheel.",
            fix="Install uv (pip install uv, or see docs.astral.sh/uv), then re-run.",
        )
    npm = shutil.which("npm")
    if js_package is not None and npm is None:
        raise ScaffoldError(
            "npm is needed to pack the @alltuner/vibetuner JS package.",
            fix="Install Node.js 20+ (with npm), then re-run `vibetuner vendor`.",
        )
    dest.mkdir(parents=True, exist_ok=True)
    for old in [*dest.glob(WHEEL_GLOB), *dest.glob(TARBALL_GLOB)]:
        old.unlink()
    ignore = dest / ".gitignore"
    had_ignore = ignore.exists()
    _step("build the vibetuner wheel", [*builder, str(dest), str(python_package)], dest)
    if not had_ignore and ignore.exists() and ignore.read_text().strip() == "*":
        ignore.unlink()  # uv build hides its output from git; these builds get committed
    if js_package is not None and npm is not None:
        pack = [npm, "pack", "--silent", "--pack-destination", str(dest)]
        _step("pack @alltuner/vibetuner", pack, js_package)
    return sorted([*dest.glob(WHEEL_GLOB), *dest.glob(TARBALL_GLOB)])


def vendor(
    dest: Annotated[
        Path, typer.Option("--dest", help="Where the image build looks for packages.")
    ] = Path("packages"),
    source: Annotated[
        Path | None,
        typer.Option("--from", help="The vibetuner-py folder (default: where it came from)."),
    ] = None,
) -> None:
    """Build vibetuner's wheel and JS tarball into packages/ for `docker build`.

    Needed when the app installs vibetuner from a local checkout, which a container cannot see.

    Examples:
      vibetuner vendor
      vibetuner vendor --from ../vibetuner/vibetuner-py
    """
    if source is not None:
        python_package = source.resolve()
        js = python_package.parent / "vibetuner-js"
        js_package = js if (js / "package.json").is_file() else None
        if not (python_package / "pyproject.toml").is_file():
            raise ScaffoldError(
                f"{python_package} is not a vibetuner-py folder (no pyproject.toml).",
                fix="Pass --from path/to/vibetuner/vibetuner-py.",
            )
    else:
        checkout = local_checkout()
        if checkout is None:
            typer.echo("vibetuner comes from a package index: the image installs it from there.")
            return
        python_package, js_package = checkout.python_package, checkout.js_package
    for built in vendor_into(dest.resolve(), python_package, js_package):
        typer.echo(f"vendored {built}")
