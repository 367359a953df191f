import os
import subprocess
import sys
import textwrap
import time

from vibetuner.server import _parent_watch

CHILD = textwrap.dedent(
    """
    import time
    from vibetuner.server._parent_watch import watch_launcher
    print(watch_launcher(grace=1.0), flush=True)
    time.sleep(60)
    """
)
LAUNCHER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    os.environ["VIBETUNER_LAUNCHER_PID"] = str(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=sys.stdout)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


def test_not_started_outside_vibetuner_run(monkeypatch) -> None:
    monkeypatch.delenv(_parent_watch.ENV_VAR, raising=False)
    assert _parent_watch.watch_launcher() is False
    monkeypatch.setenv(_parent_watch.ENV_VAR, str(os.getpid()))
    assert _parent_watch.watch_launcher() is False


def test_orphaned_worker_stops_itself() -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, CHILD], stdout=subprocess.PIPE, text=True
    )
    assert launcher.stdout is not None
    child_pid = int(launcher.stdout.readline())
    assert launcher.stdout.readline().strip() == "True"
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child_pid, 9)
    raise AssertionError("the orphaned child kept running")
