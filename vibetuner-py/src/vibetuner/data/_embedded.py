"""The embedded MongoDB-compatible server (SecantusDB), run as a child process.

SecantusDB is GPL-2.0: it is only ever started as a separate process, never imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vibetuner.exceptions import EmbeddedServerError
from vibetuner.server._net import free_port
from vibetuner.server._process import Started, describe_server, die_with_parent, stop_group

MODULE = "secantus"
URL_FILE = "db.url"
"""Beside the data folder, `vibetuner run dev` leaves its embedded server's URL for others."""
INSTALL_FIX = (
    "Install the embedded extra (pip install 'vibetuner[embedded]') or set "
    "DATABASE_URL=mongodb://host:27017/app"
)


def is_available() -> bool:
    return importlib.util.find_spec(MODULE) is not None


class EmbeddedMongo(Started):
    """Start SecantusDB on a free port with its data in `storage`; stop it on exit.

    `server_args` are more SecantusDB flags (`--auth`, `--tls-cert-file ...`); `client_options`
    are the pymongo options a client needs to reach it then (TLS files), for the readiness ping.
    """

    def __init__(
        self,
        storage: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        database: str = "app",
        python: str | None = None,
        log_path: Path | None = None,
        server_args: Sequence[str] = (),
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage = storage if storage == ":memory:" else Path(storage)
        self.host = host
        self.port = port or free_port(host)
        self.database = database
        self.python = python or sys.executable
        self.log_path = log_path
        self.server_args = list(server_args)
        self.client_options = dict(client_options or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/{self.database}"

    def start(self, timeout: float = 60.0) -> str:
        """Launch the server and wait until it answers `ping`; return its URL."""
        if self.python == sys.executable and not is_available():
            raise EmbeddedServerError(
                "The embedded database (SecantusDB) is not installed.", fix=INSTALL_FIX
            )
        if isinstance(self.storage, Path):
            try:
                self.storage.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbeddedServerError(
                    f"Cannot create the database folder {self.storage}: {exc.strerror}.",
                    fix="Make sure that path is a writable folder, or set DATABASE_URL.",
                ) from exc
        log_path = self.log_path or (
            self.storage.parent / "db.log" if isinstance(self.storage, Path) else None
        )
        stream = log_path.open("ab") if log_path else subprocess.DEVNULL
        command = [
            self.python, "-m", MODULE, "--host", self.host, "--port", str(self.port),
            "--storage-path", str(self.storage), "--log-level", "WARNING", *self.server_args,
        ]  # fmt: skip
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        finally:
            if log_path:
                stream.close()  # type: ignore[union-attr]
        try:
            self._wait_ready(timeout, log_path)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_ready(self, timeout: float, log_path: Path | None) -> None:
        from pymongo import MongoClient  # pymongo: kept off the CLI's startup
        from pymongo.errors import PyMongoError

        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._exited(log_path)
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            client: MongoClient[dict[str, object]] = MongoClient(
                f"mongodb://{self.host}:{self.port}/",
                serverSelectionTimeoutMS=1000,
                **self.client_options,
            )
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
            finally:
                client.close()
        raise EmbeddedServerError(
            f"The embedded database did not answer within {timeout:.0f} s.",
            fix="Retry, or set DATABASE_URL to a running MongoDB.",
        )

    def _exited(self, log_path: Path | None) -> EmbeddedServerError:
        """Why the server stopped at once: most often, another server holds the folder."""
        assert self.process is not None
        holder = storage_holder(self.storage) if isinstance(self.storage, Path) else None
        if holder is not None and isinstance(self.storage, Path):
            url = _remembered_url(self.storage)
            return EmbeddedServerError(
                f"The embedded database in {self.storage} is already open by "
                f"{describe_server(holder) or f'pid {holder}'}.",
                fix="Stop that server first"
                + (f", or share its database: DATABASE_URL={url}" if url else "")
                + ".",
            )
        return EmbeddedServerError(
            f"The embedded database exited with code {self.process.returncode}"
            + (f": {_last_line(log_path)}" if _last_line(log_path) else "."),
            fix=f"See {log_path} for its log." if log_path else "Retry, or set DATABASE_URL.",
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait for a clean shutdown (data flushed), then SIGKILL as a last resort.

        On SIGTERM SecantusDB closes its listening socket, then waits up to 2 s for the
        thread that accepts connections, which Linux does not wake from `accept` on a close.
        A connection does: so its port is knocked on until it exits (a stop takes tenths of
        a second, not 2 s)."""
        process, self.process = self.process, None
        if process is not None:
            stop_group(process, timeout, nudge=self._knock)

    def _knock(self) -> None:
        with contextlib.suppress(OSError):
            socket.create_connection((self.host, self.port), timeout=0.2).close()


def storage_holder(storage: Path) -> int | None:
    """The PID of a running embedded server whose data folder is `storage`."""
    import psutil  # psutil: only when the embedded database failed to start

    wanted = str(storage.resolve())
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if MODULE not in command or "--storage-path" not in command:
            continue
        at = command.index("--storage-path") + 1
        if at < len(command) and str(Path(command[at]).resolve()) == wanted:
            return int(process.pid)
    return None


def _remembered_url(storage: Path) -> str | None:
    """The URL `vibetuner run dev` left beside its data folder (`.vibetuner/db.url`)."""
    marker = storage.parent / URL_FILE
    try:
        return marker.read_text().strip() or None
    except OSError:
        return None


def _last_line(log_path: Path | None) -> str:
    if log_path is None or not log_path.is_file():
        return ""
    lines = log_path.read_text(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""
