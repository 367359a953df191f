"""The embedded server is a real child process: data persists, stop leaves nothing behind."""

import os
import sys
from pathlib import Path

import pymongo
import pytest

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.exceptions import EmbeddedServerError


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
        pid = server.process.pid if server.process else 0
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(server.url)
        client["app"]["notes"].insert_one({"text": "kept"})
        client.close()
    assert not _alive(pid)
    with EmbeddedMongo(storage) as server:
        client = pymongo.MongoClient(server.url)
        assert client["app"]["notes"].find_one({"text": "kept"}) is not None
        client.close()


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
