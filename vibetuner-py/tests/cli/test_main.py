"""The CLI's contract: errors are one or two lines with a fix; tracebacks only with --debug."""

import os
import subprocess
import sys
from pathlib import Path

from vibetuner import __version__

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd or Path.cwd())}
    return subprocess.run(
        [VIBETUNER, *args], cwd=cwd, capture_output=True, text=True, env={**base, **(env or {})}
    )


def test_version() -> None:
    result = run("version")
    assert result.returncode == 0 and result.stdout.strip() == __version__


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("run", "scaffold", "version"):
        assert command in result.stdout


def test_run_prod_without_database_url_names_it(tmp_path: Path) -> None:
    env = {"ENVIRONMENT": "prod", "SECRET_KEY": "x" * 8 + "Gq2Wm9Lp4Zt7Xr1Vb6Nc3Hd8"}
    result = run("run", "prod", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "Fix:" in result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and lines[-1].startswith("Fix: ") and len(lines) <= 6


def test_run_prod_with_placeholder_secret_refuses(tmp_path: Path) -> None:
    env = {"ENVIRONMENT": "prod", "SECRET_KEY": "changeme", "DATABASE_URL": "mongodb://h/x"}
    result = run("run", "prod", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    env = {"ENVIRONMENT": "prod", "SECRET_KEY": "changeme", "DATABASE_URL": "mongodb://h/x"}
    result = run("--debug", "run", "prod", cwd=tmp_path, env=env)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_run_outside_a_project_says_where_to_run(tmp_path: Path) -> None:
    result = run("run", "dev", "--no-reload", cwd=tmp_path, env={"DATABASE_URL": "mongodb://h/x"})
    assert result.returncode == 2
    assert "Cannot find the app module 'app.frontend'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_dev_refuses_prod_environment(tmp_path: Path) -> None:
    result = run("run", "dev", cwd=tmp_path, env={"ENVIRONMENT": "prod"})
    assert result.returncode == 2 and "run prod" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run("frobnicate")
    assert result.returncode == 2 and "frobnicate" in result.stderr


def test_scaffold_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "keep.txt").write_text("mine")
    result = run("scaffold", "new", str(tmp_path / "app"), "--defaults", "--no-install")
    assert result.returncode == 1 and "not empty" in result.stderr
    assert (tmp_path / "app" / "keep.txt").read_text() == "mine"


def test_scaffold_bad_data_is_explained(tmp_path: Path) -> None:
    result = run("scaffold", "new", str(tmp_path / "x"), "--defaults", "--data", "oops")
    assert result.returncode != 0 and "key=value" in result.stderr


def test_scaffold_invalid_slug_is_explained(tmp_path: Path) -> None:
    result = run(
        "scaffold", "new", str(tmp_path / "x"), "--defaults", "--no-install",
        "--data", "project_slug=Bad Slug!",
    )  # fmt: skip
    assert result.returncode == 1
    assert "slug" in result.stderr.lower() and "Traceback" not in result.stderr


def test_run_prod_with_unreachable_database_says_so(tmp_path: Path) -> None:
    from vibetuner.server._net import free_port

    (tmp_path / "src" / "app" / "frontend").mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    (tmp_path / "src" / "app" / "frontend" / "__init__.py").write_text("app = None\n")
    env = {
        "ENVIRONMENT": "prod",
        "SECRET_KEY": "x" * 8 + "Gq2Wm9Lp4Zt7Xr1Vb6Nc3Hd8",
        "DATABASE_URL": f"mongodb://127.0.0.1:{free_port()}/app?serverSelectionTimeoutMS=300",
        "BASE_URL": "https://app.example.com",
        "SMTP_HOST": "127.0.0.1",
    }
    result = run("run", "prod", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "Cannot reach MongoDB" in result.stderr and "DATABASE_URL=" in result.stderr
    assert "Traceback" not in result.stderr and "Topology" not in result.stderr, "short"


def test_failed_scaffold_step_is_named_with_its_retry(tmp_path: Path) -> None:
    dest = tmp_path / "no-node"
    # A PATH without npm or bun: the JS step must fail by name, after Python installed.
    # (This app never runs: no bytecode for its dependencies.)
    env = {**os.environ, "PATH": "/nonexistent", "UV_COMPILE_BYTECODE": "0"}
    result = subprocess.run(
        [VIBETUNER, "scaffold", "new", str(dest), "--defaults"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Neither bun nor npm" in result.stderr
    assert "npm install" in result.stderr and "Traceback" not in result.stderr
    assert (dest / "pyproject.toml").is_file()


def test_run_answers_as_it_would_through_the_root() -> None:
    """`vibetuner run ...` skips building the other groups' commands: what it prints and its
    exit code stay those of the whole command tree."""
    through_root = (
        "import sys; from vibetuner.cli import app; app(sys.argv[1:], prog_name='vibetuner')"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.cwd()), "COLUMNS": "100"}
    for args in (["run", "--help"], ["run", "prod", "--help"], ["run"], ["run", "prd"]):
        direct = run(*args, env={"COLUMNS": "100"})
        whole = subprocess.run([sys.executable, "-c", through_root, *args],
                               capture_output=True, text=True, env=env)  # fmt: skip
        assert (direct.returncode, direct.stdout, direct.stderr) == (
            whole.returncode,
            whole.stdout,
            whole.stderr,
        ), args
        assert "Usage: vibetuner run" in direct.stdout + direct.stderr


def test_python_dash_m_names_itself_in_runs_usage() -> None:
    result = subprocess.run([sys.executable, "-m", "vibetuner", "run", "--help"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and "Usage: python -m vibetuner run" in result.stdout
