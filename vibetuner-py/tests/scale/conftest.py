"""One generated app and one cluster (3 instances behind Caddy) for every scale check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scale._cluster import Cluster
from scale._visitor import Visitor, sign_in

from tests._scaffold import VIBETUNER, run
from vibetuner.testing._required import missing

ROOT = Path(__file__).resolve().parents[3]

RESULTS = ROOT / "bench" / "results" / "scale-checks.json"


@pytest.fixture(scope="session")
def scale_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("caddy", "redis-server"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (apt-get install caddy redis-server)")
    dest = tmp_path_factory.mktemp("scale") / "scale-app"
    run([VIBETUNER, "scaffold", "new", str(dest), "--defaults", "--data", "project_name=Scale"],
        cwd=dest.parent)  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def cluster(scale_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(scale_app, tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="session")
def member(cluster: Cluster) -> Iterator[Visitor]:
    """Signed in through Caddy."""
    visitor = sign_in(cluster, "member@example.com")
    yield visitor
    visitor.close()


@pytest.fixture(scope="session")
def scale_results() -> Iterator[dict[str, Any]]:
    """Figures the checks report; written to bench/results/scale-checks.json at the end."""
    results: dict[str, Any] = {}
    yield results
    if results:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nscale figures: {json.dumps(results, indent=2)}\nwrote {RESULTS}")
