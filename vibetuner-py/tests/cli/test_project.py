"""The git side of `scaffold update`, in a real repository: what changed and what conflicts."""

from __future__ import annotations

import subprocess
from pathlib import Path

from vibetuner.cli._project import changed_files, files_with_conflicts

CONFLICTED = "<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n"


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def test_an_app_in_a_subfolder_of_a_repository_sees_its_own_changes(tmp_path: Path) -> None:
    """Git names changes from the repository's root (`app/justfile`): read from the app's
    folder, a conflict there went unseen and the update reported success."""
    repo, app = tmp_path / "mono", tmp_path / "mono" / "app"
    app.mkdir(parents=True)
    (app / "justfile").write_text("serve:\n")
    (repo / "notes.txt").write_text("mine\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    (app / "justfile").write_text(CONFLICTED)
    (app / "new.txt").write_text("added\n")
    (repo / "notes.txt").write_text("another folder's change\n")
    assert changed_files(app) == [("updated", "justfile"), ("added", "new.txt")]
    assert files_with_conflicts(app, ["justfile", "new.txt"]) == ["justfile"]
