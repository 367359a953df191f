import os
import subprocess
import sys
import textwrap
import time

from tests.test_embedded import _alive
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
    monkeypatch.setattr(_parent_watch, "_started", False)  # each "False" is its own answer
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
    _assert_stops(child_pid, "the orphaned child kept running")


def _assert_stops(pid: int, failure: str) -> None:
    """`pid` exits within 10 s (SIGKILLed otherwise, and the test fails)."""
    deadline = time.monotonic() + 10
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise AssertionError(failure)
        time.sleep(0.1)


FORKING_LAUNCHER = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from pathlib import Path

    def worker(go):
        while not Path(go).exists():  # importing the app, as a Granian worker would
            time.sleep(0.05)
        from vibetuner.server._parent_watch import watch_launcher
        watch_launcher(grace=1.0)
        time.sleep(60)

    if __name__ == "__main__":
        os.environ["VIBETUNER_LAUNCHER_PID"] = str(os.getpid())
        child = multiprocessing.get_context("fork").Process(target=worker, args=(sys.argv[1],))
        child.start()
        print(child.pid, flush=True)
        time.sleep(60)
    """
)


def test_a_worker_orphaned_before_its_watch_starts_stops_itself(tmp_path) -> None:
    """A launcher SIGKILLed while its worker still imported the app: the worker, already
    reparented when its watch began, took itself for no worker of `vibetuner run` and served
    on for good, holding the port."""
    go = tmp_path / "go"
    launcher = subprocess.Popen(
        [sys.executable, "-c", FORKING_LAUNCHER, str(go)], stdout=subprocess.PIPE, text=True
    )
    assert launcher.stdout is not None
    child_pid = int(launcher.stdout.readline())
    launcher.kill()
    launcher.wait()
    go.touch()
    _assert_stops(child_pid, "the orphaned worker kept running")


BETWEEN_RUNS = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    import uvloop
    from vibetuner.server._parent_watch import resend_stops_between_runs

    loop = uvloop.new_event_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)  # as Granian's worker does

    async def startup() -> bool:
        return resend_stops_between_runs()

    print(loop.run_until_complete(startup()), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)  # the launcher's stop, between the two runs
    try:
        loop.run_until_complete(asyncio.wait_for(stopped.wait(), 10))
        print("stopped", flush=True)
    except TimeoutError:
        print("lost", flush=True)
    """
)


def test_a_stop_between_two_runs_of_a_uvloop_worker_loop_is_not_lost() -> None:
    """Granian runs a worker's loop for the app's startup, then again to serve; uvloop hears
    no signal in between, so the launcher's stop right after a failed startup was lost."""
    env = {**os.environ, _parent_watch.ENV_VAR: str(os.getpid())}
    done = subprocess.run(
        [sys.executable, "-c", BETWEEN_RUNS], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.stdout.split() == ["True", "stopped"], done.stdout + done.stderr
