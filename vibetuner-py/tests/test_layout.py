"""The package's shape: rooms without cycles, no test support at runtime, modules of a size
one can read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import vibetuner

SRC = Path(vibetuner.__file__).resolve().parent
MAX_LINES = 600


def test_import_contracts_hold() -> None:
    """.importlinter: the layers, no test support at runtime, no cycles anywhere."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=SRC.parent.parent,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


def test_no_runtime_module_imports_test_support() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "testing" in path.relative_to(SRC).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "vibetuner.testing" or n.startswith("vibetuner.testing.") for n in names):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []


def test_no_module_grows_past_600_lines() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for path in SRC.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
