"""Targets, the printed table, and the JSON files under bench/results/."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    paths = results["paths"]
    checks = [
        ("/ ratio ours/raw", paths.get("/", {}).get("ratio"), ">=", 0.5),
        (
            "/health/ping ratio ours/raw",
            paths.get("/health/ping", {}).get("ratio"),
            ">=",
            0.5,
        ),
        (
            "signed-in /account ours vs raw /",
            paths.get("/account (signed in)", {}).get("ratio"),
            ">=",
            0.3,
        ),
        ("cold start ours (ms)", results["cold_start_ms"].get("ours"), "<=", 400.0),
        (
            "idle worker RSS ours (MB)",
            results["idle_rss"].get("ours", {}).get("worker_mb"),
            "<=",
            60.0,
        ),
    ]
    out: list[dict[str, Any]] = []
    for name, value, op, limit in checks:
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        out.append(
            {"name": name, "value": value, "target": f"{op} {limit:g}", "pass": ok}
        )
    return out


def _num(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def table(results: dict[str, Any]) -> str:
    head = f"{'path':<22}{'ours req/s':>12}{'raw req/s':>12}{'ratio':>8}"
    head += f"{'p50 ms':>9}{'p99 ms':>9}{'raw p50':>9}{'raw p99':>9}{'non2xx/err':>12}"
    lines = [f"load tool: {results['meta']['tool']}"]
    if results["meta"].get("backends"):
        lines.append(f"backends: {results['meta']['backends']}")
    lines += [head, "-" * len(head)]
    for path, row in results["paths"].items():
        ours, raw = row.get("ours") or {}, row.get("raw") or {}
        bad = f"{ours.get('non_2xx', 0) + raw.get('non_2xx', 0)}/"
        bad += f"{ours.get('errors', 0) + raw.get('errors', 0)}"
        lines.append(
            f"{path:<22}{_num(ours.get('rps'), '.0f'):>12}{_num(raw.get('rps'), '.0f'):>12}"
            f"{_num(row.get('ratio'), '.2f'):>8}{_num(ours.get('p50_ms'), '.2f'):>9}"
            f"{_num(ours.get('p99_ms'), '.2f'):>9}{_num(raw.get('p50_ms'), '.2f'):>9}"
            f"{_num(raw.get('p99_ms'), '.2f'):>9}{bad:>12}"
        )
    cold, rss = results["cold_start_ms"], results["idle_rss"]
    lines.append("")
    lines.append(
        f"cold start (median ms): ours {_num(cold.get('ours'))}  raw {_num(cold.get('raw'))}"
    )
    for role in ("ours", "raw"):
        info = rss.get(role) or {}
        lines.append(
            f"idle RSS {role}: worker {_num(info.get('worker_mb'))} MB (pid {info.get('worker_pid')}),"
            f" launcher {_num(info.get('launcher_mb'))} MB"
        )
    db = results.get("db")
    if db:
        lines.append(
            f"posts partial, serial: DB query {_num(db['query_mean_ms'], '.2f')} ms"
            f" of {_num(db['partial_serial_ms'], '.2f')} ms per request"
            f" = {_num(db['share_of_serial'] * 100, '.0f')}% DB"
        )
    partial = results["paths"].get("/posts (HX)", {}).get("ours") or {}
    cpu = partial.get("cpu_ms_per_request")
    if cpu:
        lines.append(
            f"posts partial, under load: CPU per request app {_num(cpu['app'], '.2f')} ms,"
            f" db server {_num(cpu['db'], '.2f')} ms"
        )
    lines.append("")
    for check in results["targets"]:
        verdict = "PASS" if check["pass"] else "MISS"
        lines.append(
            f"{verdict}  {check['name']}: {_num(check['value'], '.2f')} (target {check['target']})"
        )
    lines += [f"WARN  {warning}" for warning in results["warnings"]]
    return "\n".join(lines)


def write_json(results: dict[str, Any], now: datetime) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    text = json.dumps(results, indent=2, default=str) + "\n"
    stamped = RESULTS_DIR / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    stamped.write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    return stamped
