"""Cold start and idle memory: fresh launches of every server, and their ratios."""

import argparse
import statistics
from typing import Any

from bench._procs import Processes
from bench._progress import Steps
from bench._servers import Launch, Loader, footprints

COLD_S = 3.0
"""Seconds a launch is expected to take to its first page, for the progress bar."""


def measure(
    args: argparse.Namespace,
    procs: Processes,
    launches: list[Launch],
    loader: Loader,
    results: dict[str, Any],
    steps: Steps,
) -> None:
    """Fresh launches in interleaved rounds, while the kept servers idle: the medians of
    their cold starts and of their idle workers' RSS."""
    total = len(launches) * args.cold_start_runs
    done = iter(range(1, total + 1))

    def progress(name: str) -> None:
        steps.step(
            f"launch {next(done)} of {total}: {name}", COLD_S + args.warmup + 1.0
        )

    found = footprints(
        procs, launches, args.cold_start_runs, args.startup_timeout, loader, progress
    )
    for role, footprint in found.items():
        results["cold_start_ms"][role] = statistics.median(footprint.cold_start_ms)
        results["cold_start_ms"][f"{role}_runs"] = footprint.cold_start_ms
        workers = [run["worker_mb"] for run in footprint.rss if run["worker_mb"]]
        launchers = [run["launcher_mb"] for run in footprint.rss if run["launcher_mb"]]
        results["idle_rss"][role] = {
            "worker_mb": statistics.median(workers) if workers else None,
            "launcher_mb": statistics.median(launchers) if launchers else None,
            "runs": footprint.rss,
        }
    _footprint_ratios(results)


def _footprint_ratios(results: dict[str, Any]) -> None:
    """Ours (and base) against the hand-written app and raw, for cold start and idle RSS:
    the median of the rounds' ratios, each between two launches of the same round, so a
    machine whose load drifts (other work on it) compares launches made under like load."""
    cold, rss = results["cold_start_ms"], results["idle_rss"]
    runs = {
        "cold_start": {
            role: cold[f"{role}_runs"] for role in cold if not role.endswith("_runs")
        },
        "idle_rss": {
            role: [run["worker_mb"] for run in info["runs"]]
            for role, info in rss.items()
        },
    }
    ratios: dict[str, float | None] = {}
    for kind, by_role in runs.items():
        for role in ("ours", "base", "hand"):
            for other in ("hand", "raw"):
                if role != other:
                    ratios[f"{kind} {role}/{other}"] = _paired(
                        by_role.get(role), by_role.get(other)
                    )
    results["footprint_ratios"] = ratios


def _paired(a: list[float] | None, b: list[float] | None) -> float | None:
    """Median of a[i] / b[i] over the rounds where both were measured."""
    pairs = [x / y for x, y in zip(a or [], b or [], strict=False) if x and y]
    return statistics.median(pairs) if pairs else None
