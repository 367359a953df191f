"""Every command the CLI registers, found by walking the tree, has --help with an example.

The convention: the docstring (or a group's `help=`) ends with a paragraph

    Examples:
      vibetuner <the command's own path> [arguments]

and at least one example line (starting with `vibetuner`, or environment assignments then
`vibetuner`) runs the command itself, e.g. `vibetuner i18n extract && vibetuner i18n update`.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import typer

from vibetuner.cli import app


def command_paths() -> list[tuple[str, ...]]:
    """The root and every group and command below it, as argument tuples."""
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            if not getattr(sub, "hidden", False):
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


def help_of(path: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Rendered in-process (a subprocess per command is slow); `test_main` runs the real one."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    return subprocess.CompletedProcess(path, result.exit_code, result.output, "")


def example_problem(path: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> str:
    """Why this command's help breaks the convention, or "" when it follows it."""
    shown = " ".join(("vibetuner", *path))
    if result.returncode != 0:
        return f"`{shown} --help` exited {result.returncode}: {result.stderr.strip()[-300:]}"
    _, found, examples = result.stdout.partition("Examples:")
    if not found:
        return f"`{shown} --help` has no 'Examples:' paragraph"
    start = re.compile(r"^[\s│]*(?:[A-Z_]+=\S+\s+)*vibetuner(?:\s|$)")
    runs_it = re.compile(rf"{re.escape(shown)}(?:\s|$)")
    if not any(start.match(line) and runs_it.search(line) for line in examples.splitlines()):
        return f"`{shown} --help` has no example line that runs `{shown}`"
    return ""


def test_the_walker_sees_nested_commands() -> None:
    paths = command_paths()
    for expected in [(), ("run", "dev"), ("db", "migrate"), ("users", "create"), ("version",)]:
        assert expected in paths
    assert len(paths) >= 20


def test_every_command_has_help_with_an_example() -> None:
    paths = command_paths()
    results = [help_of(path) for path in paths]
    problems = [example_problem(p, r) for p, r in zip(paths, results, strict=True)]
    assert [p for p in problems if p] == [], "\n".join(p for p in problems if p)


def test_the_convention_check_rejects_help_without_an_example() -> None:
    ok = subprocess.CompletedProcess([], 0, "Do it.\n\nExamples:\n  vibetuner db migrate\n", "")
    assert example_problem(("db", "migrate"), ok) == ""
    other = subprocess.CompletedProcess([], 0, "Examples:\n  vibetuner db status\n", "")
    assert "no example line" in example_problem(("db", "migrate"), other)
    chained = subprocess.CompletedProcess([], 0, "Examples:\n  vibetuner a && vibetuner b\n", "")
    assert example_problem(("b",), chained) == ""
    prefix = subprocess.CompletedProcess([], 0, "Examples:\n  vibetuner db migrate\n", "")
    assert "no example line" in example_problem(("db", "mig"), prefix)
    bare = subprocess.CompletedProcess([], 0, "Do it.\n", "")
    assert "no 'Examples:'" in example_problem(("db",), bare)
