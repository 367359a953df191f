"""The three parts of the repo are version-locked."""

import json
import re
from pathlib import Path

from vibetuner import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_python_package_version_matches_pyproject() -> None:
    pyproject = (ROOT / "vibetuner-py" / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == __version__  # type: ignore[union-attr]


def test_js_package_has_the_same_version() -> None:
    package = json.loads((ROOT / "vibetuner-js" / "package.json").read_text())
    assert package["name"] == "@alltuner/vibetuner"
    assert package["version"] == __version__


def test_template_pins_the_same_version() -> None:
    copier = (ROOT / "copier.yml").read_text()
    assert f'default: "{__version__}"' in copier
