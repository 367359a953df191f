"""The embedded server is a real child process: data persists, stop leaves nothing behind."""

import os
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import EmbeddedServerError
from vibetuner.server._net import free_port
from vibetuner.server._process import stop_group

# A server that, like SecantusDB's accept thread, notices SIGTERM only when a connection
# arrives: Python retries `accept` after the signal handler (PEP 475).
WAITS_FOR_A_CONNECTION = """
import signal, socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
print("ready", flush=True)
while True:
    listener.accept()[0].close()
    if stopping:
        sys.exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"


def test_data_survives_a_restart(tmp_path: Path) -> None:
    storage = tmp_path / "db"
    with EmbeddedMongo(storage) as server:
        process = server.process
        assert process is not None
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(server.url)
        client["app"]["notes"].insert_one({"text": "kept"})
        client.close()
    assert process.returncode == 0, "stopped cleanly, not killed"
    assert not _alive(process.pid)
    with EmbeddedMongo(storage) as server:
        client = pymongo.MongoClient(server.url)
        assert client["app"]["notes"].find_one({"text": "kept"}) is not None
        client.close()


@pytest.mark.parametrize("knock", [True, False])
def test_a_stop_knocks_on_a_server_that_waits_for_a_connection(knock: bool) -> None:
    """With a nudge that connects, the server stops by itself (exit 0); without one, it is
    still waiting when the timeout ends and is killed: the nudge is what ends the wait."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", WAITS_FOR_A_CONNECTION, str(port)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    server = EmbeddedMongo(":memory:", port=port)
    stop_group(child, timeout=30 if knock else 1, nudge=server._knock if knock else None)
    assert child.returncode == (0 if knock else -9)


def test_missing_server_module_says_how_to_install(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "db", python=sys.executable)
    server.python = "/nonexistent/python"
    with pytest.raises((EmbeddedServerError, FileNotFoundError)):
        server.start(timeout=5)


def test_unusable_storage_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the storage folder should be")
    with pytest.raises(EmbeddedServerError, match="Cannot create the database folder"):
        EmbeddedMongo(blocker / "db").start(timeout=10)


def test_storage_in_use_by_another_server_names_it(tmp_path: Path) -> None:
    with EmbeddedMongo(tmp_path / "db") as first:
        assert first.process is not None
        second = EmbeddedMongo(tmp_path / "db", log_path=tmp_path / "second.log")
        with pytest.raises(EmbeddedServerError) as info:
            second.start(timeout=30)
        message = info.value.message
        assert f"{tmp_path / 'db'} is already open by `" in message
        assert f"(pid {first.process.pid}," in message and "secantus" in message
        assert "Traceback" not in message and "WiredTiger" not in message
        assert info.value.fix and info.value.fix.startswith("Stop that server first")
        assert second.process is None
