"""Granian's kill reports: a worker that stopped by itself is not reported as killed."""

from __future__ import annotations

import logging

from vibetuner.server._granian import KILL_REPORT, KillReports


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("_granian", logging.WARNING, __file__, 1, message, (), None)


def _report(old: bool = False) -> logging.LogRecord:
    return _record(f"Killing {'old ' if old else ''}worker-1 {KILL_REPORT}")


def test_a_report_before_the_kill_timeout_is_dropped() -> None:
    """Granian's wait ended early: its watcher thread had reaped the worker."""
    reports = KillReports(kill_timeout=30)
    assert reports.filter(_record("Shutting down granian")) is True
    assert reports.filter(_report()) is False


def test_a_report_at_the_kill_timeout_stays_and_says_how_long_the_stop_ran() -> None:
    reports = KillReports(kill_timeout=30)
    reports.filter(_record("Shutting down granian"))
    assert reports.since is not None
    reports.since -= 31
    record = _report()
    assert reports.filter(record) is True
    assert record.getMessage() == f"Killing worker-1 {KILL_REPORT} (31 s into the stop)"


def test_a_respawn_counts_from_its_own_stop() -> None:
    """A reload (or SIGHUP) stops each old worker in turn, each with its own timeout; a
    Ctrl-C meanwhile changes nothing until Granian's shutdown begins after the respawn."""
    reports = KillReports(kill_timeout=30)
    reports.filter(_record("Stopping old worker-1"))
    assert reports.filter(_report(old=True)) is False
    assert reports.since is not None
    reports.since -= 30
    assert reports.filter(_report(old=True)) is True


def test_a_development_reload_counts_from_its_announcement() -> None:
    """`run dev`'s reload stops every worker after 'Changes detected, reloading workers..'."""
    reports = KillReports(kill_timeout=30)
    reports.filter(_record("Changes detected, reloading workers.."))
    assert reports.filter(_report()) is False


def test_other_messages_and_reports_outside_a_stop_pass() -> None:
    reports = KillReports(kill_timeout=30)
    assert reports.filter(_report()) is True, "nothing announced a stop: reported as it is"
    reports.filter(_record("Shutting down granian"))
    assert reports.filter(_record("Stopped worker-1")) is True
