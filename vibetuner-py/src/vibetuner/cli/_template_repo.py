"""A local git repo of every template version this machine has used: what `copier update` diffs.

copier can only update a project from a git-versioned template (it re-renders the old version
to find the user's edits). The template ships inside the package as a plain folder, so each
vibetuner version commits its template to a cache repo and tags it `v<version>`. The repo keeps
every tag, so a project made by an older vibetuner still finds the version it came from.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vibetuner.exceptions import ScaffoldError

#: What never belongs in a snapshot (nor, through copier.yml's _exclude, in an app).
IGNORED = (".git", ".ruff_cache", ".mypy_cache", ".pytest_cache", "__pycache__", "*.pyc",
           "node_modules", ".venv", ".vibetuner", "artifacts")  # fmt: skip
_IDENTITY = ("-c", "user.name=vibetuner", "-c", "user.email=vibetuner@localhost",
             "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false")  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """One template version in the cache repo: copier's `src_path` and `vcs_ref`."""

    repo: Path
    tag: str

    @property
    def src_path(self) -> str:
        """The repo path as recorded in answers: `~/...` when under home, so it travels."""
        home = Path.home()
        if self.repo.is_relative_to(home):
            return "~/" + self.repo.relative_to(home).as_posix()
        return str(self.repo)


def cache_dir() -> Path:
    """VIBETUNER_CACHE_DIR, else $XDG_CACHE_HOME/vibetuner, else ~/.cache/vibetuner."""
    if explicit := os.environ.get("VIBETUNER_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "vibetuner"


def default_repo() -> Path:
    return cache_dir() / "template"


def git_binary() -> str:
    git = shutil.which("git")
    if git is None:
        raise ScaffoldError(
            "git is not installed; the template's versions (and copier updates) need it.",
            fix="Install git (e.g. apt-get install git), then retry.",
        )
    return git


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [git_binary(), *_IDENTITY, *args],
        cwd=cwd or repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise ScaffoldError(
            f"git failed in {repo}: {(result.stderr or result.stdout).strip()}",
            fix=f"Delete {repo} (it is only a cache) and retry.",
        )
    return result.stdout.strip()


@contextmanager
def _locked(repo: Path) -> Iterator[None]:
    """One writer at a time: two scaffolds at once must not race on the same tags."""
    repo.parent.mkdir(parents=True, exist_ok=True)
    with open(repo.parent / f".{repo.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stage(source: Path, into: Path) -> None:
    """Copy the template (copier.yml and its subdirectory) without caches."""
    ignore = shutil.ignore_patterns(*IGNORED)
    shutil.copy2(source / "copier.yml", into / "copier.yml")
    shutil.copytree(source / "copier-template", into / "copier-template", ignore=ignore)


def tags(repo: Path) -> list[str]:
    if not (repo / ".git").is_dir():
        return []
    return _git(repo, "tag", "--list").split()


def snapshot(source: Path, version: str, repo: Path | None = None) -> Snapshot:
    """Commit `source` as version `version` (tag `v<version>`), reusing an identical snapshot.

    A source checkout may change its template without changing its version; such a change
    is tagged `v<version>.post<N>`, so versions keep increasing and old tags stay valid.
    """
    repo = repo or default_repo()
    with _locked(repo), tempfile.TemporaryDirectory(prefix="vibetuner-template-") as staging:
        if not (repo / ".git").is_dir():
            repo.mkdir(parents=True, exist_ok=True)
            _git(repo, "init", "-q", "-b", "main")
        _stage(source, Path(staging))
        index = {"GIT_INDEX_FILE": str(Path(staging).parent / f"{Path(staging).name}.index")}
        try:
            where = ("--git-dir", str(repo / ".git"), "--work-tree", staging)
            _git(repo, *where, "add", "-A", "--", ".", env=index, cwd=Path(staging))
            tree = _git(repo, "write-tree", env=index)
        finally:
            Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
        existing = set(tags(repo))
        base = f"v{version}"
        candidates = [base] + [f"{base}.post{n}" for n in range(1, len(existing) + 2)]
        for tag in candidates:
            if tag not in existing:
                break
            if _git(repo, "rev-parse", f"{tag}^{{tree}}") == tree:
                return Snapshot(repo, tag)
        parents = ["-p", _git(repo, "rev-parse", "main")] if _has_commits(repo) else []
        commit = _git(repo, "commit-tree", tree, *parents, "-m", f"vibetuner {tag[1:]} template")
        _git(repo, "update-ref", "refs/heads/main", commit)
        _git(repo, "tag", tag, commit)
        # copier copies a dirty template's changes: keep the checkout exactly at `main`.
        _git(repo, "reset", "-q", "--hard", "main")
        return Snapshot(repo, tag)


def _has_commits(repo: Path) -> bool:
    result = subprocess.run(
        [git_binary(), "rev-parse", "-q", "--verify", "refs/heads/main"],
        cwd=repo,
        capture_output=True,
    )
    return result.returncode == 0


def resolve(src_path: str) -> Path:
    """The repo an answers file's `_src_path` names, `~` expanded."""
    return Path(src_path).expanduser().resolve()
