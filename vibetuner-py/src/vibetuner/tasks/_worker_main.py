"""`python -m vibetuner.tasks._worker_main`: the worker without the Typer CLI (tests, reload)."""

from __future__ import annotations

import argparse
import sys

from vibetuner.exceptions import VibetunerError
from vibetuner.tasks._worker import run_worker


def main(argv: list[str] | None = None) -> int:
    """Parse the few worker options and run until stopped; errors print their fix."""
    parser = argparse.ArgumentParser(prog="vibetuner-worker")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--grace-period", type=int, default=None)
    parser.add_argument("--burst", action="store_true")
    options = parser.parse_args(argv)
    try:
        run_worker(
            concurrency=options.concurrency,
            idle_timeout=options.idle_timeout,
            grace_period=options.grace_period,
            burst=options.burst,
        )
    except VibetunerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
