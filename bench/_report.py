"""Goals, the printed table, and the JSON files under bench/results/."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BASE_FLOOR = 0.95
"""The rule for changes: ours may not fall below 0.95x of the baseline on any path."""
POSTS_OVER_BASE = 1.5
"""The posts partial serves at least 1.5x the baseline's rate (issue 15): this fails the run."""


def _check(
    name: str, value: float | None, op: str, limit: float, enforced: bool
) -> dict[str, Any]:
    ok = value is not None and (value >= limit if op == ">=" else value <= limit)
    return {
        "name": name,
        "value": value,
        "target": f"{op} {limit:g}",
        "pass": ok,
        "enforced": enforced,
    }


def targets(
    results: dict[str, Any], *, enforce: bool = True, require_base_ratio: bool = False
) -> list[dict[str, Any]]:
    """Goals against raw fail the run (unless `enforce` is off: the self-test), and so does
    the posts partial against base; ours against base elsewhere fails it with
    `require_base_ratio`; cold start and idle RSS are reported only."""
    paths = results["paths"]
    out = [
        _check("/ ours/raw", paths.get("/", {}).get("ratio"), ">=", 1.0, enforce),
        _check(
            "/health/ping ours/raw",
            paths.get("/health/ping", {}).get("ratio"),
            ">=",
            1.0,
            enforce,
        ),
    ]
    if not results["meta"].get("self_test"):
        out.append(
            _check(
                "signed-in /account ours vs raw /",
                paths.get("/account (signed in)", {}).get("ratio"),
                ">=",
                0.6,
                enforce,
            )
        )
    compared = [
        (path, row["ours_vs_base"]) for path, row in paths.items() if row.get("base")
    ]
    if compared:
        for path, value in compared:
            out.append(
                _check(f"{path} ours/base", value, ">=", BASE_FLOOR, require_base_ratio)
                if path != "/posts (HX)"
                else _check(f"{path} ours/base", value, ">=", POSTS_OVER_BASE, enforce)
            )
    elif require_base_ratio:
        out.append(_check("ours/base (no base measured)", None, ">=", BASE_FLOOR, True))
    out += [
        _check(
            "cold start ours (ms)",
            results["cold_start_ms"].get("ours"),
            "<=",
            400.0,
            False,
        ),
        _check(
            "idle worker RSS ours (MB)",
            results["idle_rss"].get("ours", {}).get("worker_mb"),
            "<=",
            60.0,
            False,
        ),
    ]
    return out


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    rounds = f"{meta['rounds']} interleaved rounds of {meta['duration_s']:g} s"
    lines = [f"load tool: {meta['tool']}, {rounds} per server and path (medians)"]
    if meta.get("backends"):
        lines.append(f"backends: {meta['backends']}")
    if meta.get("base_dir"):
        lines.append(
            f"base: {meta['base_dir']} (commit {meta.get('base_commit') or '?'})"
        )
    sizes = ", ".join(f"{role} {n} B" for role, n in results["page_bytes"].items())
    lines.append(f"GET / page: {sizes}; raw is ours but for nonces and CSRF tokens")
    head = f"{'path':<22}{'raw req/s':>10}{'ours req/s':>11}{'base req/s':>11}"
    head += f"{'ours/raw':>9}{'base/raw':>9}{'ours/base':>10}"
    head += f"{'p50 ms':>8}{'p99 ms':>8}{'non2xx/err':>11}"
    lines += ["", head, "-" * len(head)]
    for path, row in results["paths"].items():
        served = [row.get(role) or {} for role in ("raw", "ours", "base")]
        raw, ours, base = served
        bad = f"{sum(s.get('non_2xx', 0) for s in served)}/"
        bad += f"{sum(s.get('errors', 0) for s in served)}"
        lines.append(
            f"{path:<22}{fmt(raw.get('rps'), '.0f'):>10}{fmt(ours.get('rps'), '.0f'):>11}"
            f"{fmt(base.get('rps'), '.0f'):>11}{_ratio(row.get('ratio')):>9}"
            f"{_ratio(row.get('base_ratio')):>9}{_ratio(row.get('ours_vs_base')):>10}"
            f"{fmt(ours.get('p50_ms')):>8}{fmt(ours.get('p99_ms')):>8}{bad:>11}"
        )
    if "/account (signed in)" in results["paths"]:
        lines.append("(signed-in /account is compared with raw /; p50/p99 are ours)")
    cold, rss = results["cold_start_ms"], results["idle_rss"]
    lines.append("")
    roles = [role for role in ("raw", "ours", "base") if role in cold]
    lines.append(
        "cold start (median ms): "
        + "  ".join(f"{role} {fmt(cold.get(role), '.1f')}" for role in roles)
    )
    for role in roles:
        info = rss.get(role) or {}
        lines.append(
            f"idle RSS {role}: worker {fmt(info.get('worker_mb'), '.1f')} MB"
            f" (pid {info.get('worker_pid')}), launcher {fmt(info.get('launcher_mb'), '.1f')} MB"
        )
    for role, db in (results.get("db") or {}).items():
        lines.append(
            f"posts partial, serial ({role}): DB query {fmt(db['query_mean_ms'])} ms"
            f" of {fmt(db['partial_serial_ms'])} ms per request"
            f" = {fmt(db['share_of_serial'] * 100, '.0f')}% DB"
        )
    for role in ("ours", "base"):
        partial = results["paths"].get("/posts (HX)", {}).get(role) or {}
        cpu = partial.get("cpu_ms_per_request")
        if cpu:
            lines.append(
                f"posts partial, under load ({role}): CPU per request app {fmt(cpu['app'])} ms,"
                f" db server {fmt(cpu['db'])} ms"
            )
    lines.append("")
    for check in results["targets"]:
        verdict = "PASS" if check["pass"] else "MISS"
        note = "" if check["enforced"] else "  (reported)"
        lines.append(
            f"{verdict}  {check['name']}: {fmt(check['value'])} (target {check['target']}){note}"
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
