"""Granian's kill reports: a worker that stopped by itself is not reported as killed."""

from __future__ import annotations

import logging
import time

from vibetuner.server._granian import KILL_REPORT, KillReports


def _report() -> logging.LogRecord:
    message = f"Killing worker-1 {KILL_REPORT}"
    return logging.LogRecord("_granian", logging.WARNING, __file__, 1, message, (), None)


def test_a_report_before_the_kill_timeout_is_dropped() -> None:
    """Granian's wait ended early: the worker's exit had begun (its descriptors closed)."""
    reports = KillReports(kill_timeout=30)
    reports.stop()
    assert reports.filter(_report()) is False


def test_a_report_at_the_kill_timeout_stays_and_says_how_long_the_stop_ran() -> None:
    reports = KillReports(kill_timeout=30)
    reports.stop()
    assert reports.since is not None
    reports.since -= 31
    record = _report()
    assert reports.filter(record) is True
    assert record.getMessage() == f"Killing worker-1 {KILL_REPORT} (31 s into the stop)"


def test_a_second_interrupt_does_not_move_the_stop_a_reload_does() -> None:
    """A second Ctrl-C does not restart Granian's wait, so it must not restart this one; a
    reload stops its old workers anew."""
    reports = KillReports(kill_timeout=30)
    reports.reloading()
    first = reports.since
    assert first is not None
    time.sleep(0.01)
    reports.reloading()
    assert reports.since is not None and reports.since > first
    reports.stop()
    stopped = reports.since
    reports.stop()
    reports.reloading()
    assert reports.since == stopped


def test_other_messages_and_reports_outside_a_stop_pass() -> None:
    reports = KillReports(kill_timeout=30)
    assert reports.filter(_report()) is True, "a respawn's kill (no stop began) is reported"
    reports.stop()
    other = logging.LogRecord("_granian", logging.INFO, __file__, 1, "Stopped worker-1", (), None)
    assert reports.filter(other) is True
