"""The scaffold's last line says what to run next, and nothing that may not hold."""

import subprocess
import sys
from pathlib import Path

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


def test_next_names_the_command_and_no_port(tmp_path: Path) -> None:
    """`make demo DEMO_PORT=8001` scaffolds, then serves on 8001: a port named here was wrong."""
    result = subprocess.run(
        [VIBETUNER, "scaffold", "new", "my-app", "--defaults", "--no-install", "--no-git"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "Next: cd my-app && .venv/bin/vibetuner run dev" in last
    assert ":8000" not in result.stderr + result.stdout
