"""scale/capacity.py, the capacity model: its arithmetic on a fixed figures file of round
numbers (each expected value worked out by hand below), its answers to bad input, and the
table docs/scaling.md quotes, redone from the figures file next to it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scale.capacity import Assumptions, load, model, pool_size_under

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scale" / "capacity.py"
FIXTURE = Path(__file__).with_name("capacity_figures.json")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The script as a user runs it: `python scale/capacity.py FILE [flags]`."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _rows(output: str) -> dict[str, tuple[str, str]]:
    """Table rows by label: (the 10-instance value, the 100-instance value)."""
    rows = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 3:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_the_table_for_10_and_100_instances_adds_up() -> None:
    done = _run(str(FIXTURE))
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    expected = {
        # 1 worker per instance; the 2 job workers hold pools too.
        "web workers": ("10", "100"),
        # N x 1 core x 70% x 1,000 req/s per core.
        "requests/s (at 70% of each instance's CPU)": ("7,000", "70,000"),
        # (N x 100 MiB per worker + N x 50 MiB per launcher) / 1,024.
        "app memory (PSS of workers and launchers)": ("1.5 GiB", "14.6 GiB"),
        # (N + 2) x 10 measured; (N + 2) x (100 + 2 monitoring) with full pools.
        "MongoDB connections to the primary, pools as measured": ("120", "1,020"),
        "MongoDB connections to the primary, pools full (100)": ("1,224", "10,404"),
        "share of Atlas M30 (3,000), pools full": ("41%", "347%"),
        # floor(3,000 x 0.9) = 2,700; 2,700 // 12 - 2 = 223; 2,700 // 102 - 2 = 24.
        "maxPoolSize that keeps full pools under 90% of Atlas M30": ("223", "24"),
        "share of mongod default (65,536), pools full": ("2%", "16%"),
        # floor(65,536 x 0.9) = 58,982; // 12 - 2 = 4,913; // 102 - 2 = 576.
        "maxPoolSize that keeps full pools under 90% of mongod default": ("4,913", "576"),
        # 2 ops per request; against redis-benchmark's 100,000 GET/s.
        "Redis ops/s": ("14,000", "140,000"),
        "share of one Redis's ops/s (redis-benchmark GET, measured)": ("14%", "140%"),
        # 7,000 req/s x 10 us = 0.07 of a core.
        "Redis CPU for requests (share of its one core)": ("7%", "70%"),
        # 10 events/s to each of N listening workers, 800 B and 20 us each.
        "pub/sub messages out of Redis/s (one per listening worker)": ("100", "1,000"),
        "their bytes out of Redis": ("0.1 MiB/s", "0.8 MiB/s"),
        "Redis CPU for pub/sub (share of its one core)": ("0%", "2%"),
        "Redis CPU in all (share of its one core)": ("7%", "72%"),
        # 10 events/s x 100 streams x N; per instance 10 x (400 + 100 x 50) us = 5.4%.
        "SSE events delivered/s": ("10,000", "100,000"),
        "SSE CPU per instance (share of its cores)": ("5%", "5%"),
        "SSE bytes out per instance": ("0.7 MiB/s", "0.7 MiB/s"),
        # 1,000,000 x (500 + 250) B / 2^30.
        "session store for 1,000,000 users (Redis memory)": ("0.7 GiB", "0.7 GiB"),
    }
    assert {label: rows.get(label) for label in expected} == expected
    limits = re.findall(r"^\s+([\d,]+) instances: (.+)$", done.stdout, re.MULTILINE)
    assert limits == [
        ("25", "Atlas M30 (3,000 connections per node) with every pool full (maxPoolSize=100)"),
        ("72", "one Redis's ops/s (redis-benchmark GET, measured)"),  # N x 1,400 >= 100,000
        ("139", "one Redis's CPU (requests' commands plus pub/sub fan-out)"),  # N x 0.0072 >= 1
        ("268", "Atlas M30 (3,000) at the pools' measured size"),  # (N + 2) x 10 >= 2,700
        ("577", "mongod default (65,536 connections per node) with every pool full "
                "(maxPoolSize=100)"),
        ("5,897", "mongod default (65,536) at the pools' measured size"),
    ]  # fmt: skip
    assert "any count: 185 broadcasts/s take a whole instance's CPU for SSE" in done.stdout


def test_assumptions_are_flags_and_printed() -> None:
    done = _run(str(FIXTURE), "--workers-per-instance", "2", "--max-pool-size", "20",
                "--mongo-limit", "M40=6000", "--redis-ops-per-s", "200000")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert rows["web workers"] == ("20", "200")
    # (2N + 2) x (20 + 2): 22 x 22 = 484; 202 x 22 = 4,444.
    assert rows["MongoDB connections to the primary, pools full (20)"] == ("484", "4,444")
    # floor(6,000 x 0.9) = 5,400; 5,400 // 22 - 2 = 243; 5,400 // 202 - 2 = 24.
    assert rows["maxPoolSize that keeps full pools under 90% of M40"] == ("243", "24")
    assert rows["share of one Redis's 200,000 ops/s (given)"] == ("7%", "70%")
    assert "2 worker(s) and 1 core(s) per instance" in done.stdout
    assert "Atlas M30" not in done.stdout


def test_the_model_is_plain_arithmetic() -> None:
    figures = load(FIXTURE)
    run = model(figures, 100, Assumptions(cores_per_instance=2, cpu_target=0.5))
    assert run["requests_per_s"] == 100 * 2 * 0.5 * 1000
    assert run["redis_ops_per_s"] == run["requests_per_s"] * 2
    assert run["sse_cpu_per_instance"] == pytest.approx(10 * (400 + 100 * 50) / 1e6 / 2)
    assert pool_size_under(3000, 1) == 2698
    assert pool_size_under(100, 1000) == 0, "no pool fits: none, not a negative size"


def test_the_doc_quotes_the_scripts_output_verbatim() -> None:
    """docs/scaling.md's table is this script's output on docs/scaling-figures.json, so it
    can be redone on other hardware and never drifts from the script."""
    done = _run("docs/scaling-figures.json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in (ROOT / "docs" / "scaling.md").read_text()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),
        ("not json", "is not readable JSON"),
        ('["a list"]', "holds no figures object"),
        ('{"figures": {"load": {}}}', "it has no load.requests_per_core_second"),
        ('{"load": {"requests_per_core_second": "fast"}}', "is 'fast', not a number"),
    ],
)
def test_bad_input_is_one_line_that_says_what_to_give(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    done = _run(str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr
    assert "make scale-bench" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "flags",
    [["--cpu-target", "1.5"], ["--workers-per-instance", "0"], ["--mongo-limit", "M10"],
     ["--users", "many"]],
)  # fmt: skip
def test_bad_flags_are_refused_with_their_reason(flags: list[str]) -> None:
    done = _run(str(FIXTURE), *flags)
    assert done.returncode == 2
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_figure_file_from_scale_bench_has_every_figure_the_model_reads() -> None:
    """The committed figures are a whole `make scale-bench` result, not a hand-made file."""
    report = json.loads((ROOT / "docs" / "scaling-figures.json").read_text())
    assert {"timestamp", "load", "figures"} <= set(report)
    assert report["figures"]["load"]["requests"] == report["load"]["requests"]
    load(ROOT / "docs" / "scaling-figures.json")
