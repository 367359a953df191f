"""`vibetuner vendor`: the framework's builds land in packages/, ready for the image build."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from tests._scaffold import ROOT, VIBETUNER, clean_env
from vibetuner.testing._required import missing


def _vendor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIBETUNER, "vendor", *args], cwd=cwd, env=clean_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_vendor_builds_wheel_and_tarball(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        missing("npm is not installed (it packs the JS package)")
    packages = tmp_path / "packages"
    packages.mkdir()
    (packages / "vibetuner-0.0.1-py3-none-any.whl").write_bytes(b"stale")
    result = _vendor("--from", str(ROOT / "vibetuner-py"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    wheels = sorted(packages.glob("vibetuner-*.whl"))
    tarballs = sorted(packages.glob("alltuner-vibetuner-*.tgz"))
    assert len(wheels) == 1 and "0.0.1" not in wheels[0].name, "stale builds are replaced"
    assert len(tarballs) == 1
    assert not (packages / ".gitignore").exists(), "vendored builds are meant to be committed"
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert "vibetuner/_template/copier.yml" in names, "the wheel carries the template"
    with tarfile.open(tarballs[0]) as tarball:
        members = tarball.getnames()
    assert any(m.startswith("package/templates/") for m in members), "templates for Tailwind"


def test_vendor_from_a_folder_that_is_not_vibetuner_says_how(tmp_path: Path) -> None:
    result = _vendor("--from", str(tmp_path), cwd=tmp_path)
    said = " ".join(result.stderr.split())  # rich wraps long lines
    assert result.returncode == 1
    assert "is not a vibetuner-py folder" in said and "Fix:" in said
    assert "Traceback" not in said
