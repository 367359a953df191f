"""`vibetuner doctor` checks storage: the local folder is writable, the S3 bucket answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vibetuner.testing._s3 import S3Server

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


def doctor(*args: str, cwd: Path, env: dict[str, str]) -> str:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "VIBETUNER_ENV_FILE": str(cwd / "none"),
            "COLUMNS": "400"}  # fmt: skip
    result = subprocess.run(
        [VIBETUNER, "doctor", *args], cwd=cwd, capture_output=True, text=True, env={**base, **env}
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def storage_lines(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if " storage:" in line)
    return lines[start : start + 2]


def test_local_storage_is_writable(tmp_path: Path) -> None:
    line = storage_lines(doctor(cwd=tmp_path, env={}))[0]
    assert line.startswith("✓ storage: local (") and str(tmp_path) in line


def test_local_storage_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / ".vibetuner").write_text("a file where the state folder should be")
    first, fix = storage_lines(doctor(cwd=tmp_path, env={}))
    assert first.startswith("✗ storage: Cannot write blobs under")
    assert "Fix:" in fix and "STORAGE_BACKEND=s3" in fix


def test_deploy_reaches_the_s3_bucket(tmp_path: Path, vibetuner_s3: S3Server) -> None:
    output = doctor("--deploy", cwd=tmp_path, env=vibetuner_s3.settings_env())
    assert storage_lines(output)[0] == (
        f"✓ storage: s3 (bucket {vibetuner_s3.bucket} at {vibetuner_s3.endpoint_url})"
    )


def test_deploy_names_a_missing_bucket_and_bad_keys(tmp_path: Path, vibetuner_s3: S3Server) -> None:
    missing = {**vibetuner_s3.settings_env(), "S3_BUCKET": "no-such-bucket"}
    first, fix = storage_lines(doctor("--deploy", cwd=tmp_path, env=missing))
    assert first.startswith("✗ storage: The bucket 'no-such-bucket' does not exist")
    assert "Create it, or set S3_BUCKET" in fix
    wrong = {**vibetuner_s3.settings_env(), "S3_SECRET_ACCESS_KEY": "wrong"}
    first, fix = storage_lines(doctor("--deploy", cwd=tmp_path, env=wrong))
    assert first.startswith("✗ storage: S3 refused access")
    assert "S3_SECRET_ACCESS_KEY" in fix


def test_incomplete_s3_settings_are_a_one_line_fix(tmp_path: Path) -> None:
    first, fix = storage_lines(doctor(cwd=tmp_path, env={"STORAGE_BACKEND": "s3"}))
    assert first.startswith("✗ storage: STORAGE_BACKEND=s3 but S3_BUCKET")
    assert fix.strip().startswith("Fix: Set S3_BUCKET=...")
