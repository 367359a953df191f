"""Walk /proc below a launched process: find the Granian worker, read RSS and CPU.

`vibetuner run prod` may exec Granian in-process or spawn it as a child, and
Granian itself runs each worker in a child process. So we walk /proc from the
launched pid down through every descendant and take the largest *leaf* process
whose executable is a Python interpreter: that is the worker. With no Python
descendants (in-process, single process) the launched pid itself is used.
"""

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcRss:
    pid: int
    rss_kb: int
    cmdline: str

    @property
    def rss_mb(self) -> float:
        return self.rss_kb / 1024


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the ppid; comm (field 2) may contain spaces, so split after ')'.
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, parent in _parent_map().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def read_rss(pid: int) -> ProcRss | None:
    try:
        status = (_PROC / str(pid) / "status").read_text()
        cmdline = (
            (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        )
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return ProcRss(pid, int(line.split()[1]), cmdline.strip())
    return None


def _is_python(pid: int) -> bool:
    try:
        return os.path.basename(os.readlink(_PROC / str(pid) / "exe")).startswith(
            "python"
        )
    except OSError:
        return False


def python_leaves(launched_pid: int) -> list[int]:
    """The Python processes below `launched_pid` with no children: Granian's workers."""
    tree = descendants(launched_pid)
    parents = set(_parent_map().values())
    return [pid for pid in tree if pid not in parents and _is_python(pid)]


def worker_rss(launched_pid: int) -> tuple[ProcRss | None, ProcRss | None]:
    """Return (worker, launcher) RSS; the worker is the largest Python leaf."""
    launcher = read_rss(launched_pid)
    leaves = python_leaves(launched_pid)
    samples = [rss for pid in leaves if (rss := read_rss(pid)) is not None]
    if not samples:
        return launcher, launcher
    return max(samples, key=lambda rss: rss.rss_kb), launcher


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and all its live descendants."""
    ticks = 0
    for member in [pid, *descendants(pid)]:
        try:
            stat = (_PROC / str(member) / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")
