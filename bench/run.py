"""Benchmark a generated Vibetuner app against raw Starlette + Jinja2.

    python bench/run.py --app-dir demo [--base-dir demo-base] [--duration 10] [--rounds 3]
    python bench/run.py --app-dir demo --footprint   # cold start and idle RSS only
    python bench/run.py --self-test          # raw app in both roles, no DB

Run it with the repo's .venv (granian, starlette, jinja2, httpx, rich and vibetuner); the
hand-written app runs on the app's own .venv.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _main() -> int:
    from bench._main import main

    return main()


if __name__ == "__main__":
    raise SystemExit(_main())
