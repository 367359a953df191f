"""Run wrk and parse its text report into a LoadResult."""

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from bench.loadgen import LoadResult

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def _time_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unrecognised wrk time {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def _find(pattern: str, output: str) -> re.Match[str] | None:
    return re.search(pattern, output, re.MULTILINE)


def parse(output: str, url: str) -> LoadResult:
    rps = _find(r"^Requests/sec:\s+([\d.]+)", output)
    total = _find(r"^\s*(\d+) requests in ([\d.]+\w+),", output)
    p50 = _find(r"^\s+50%\s+(\S+)", output)
    p99 = _find(r"^\s+99%\s+(\S+)", output)
    mean = _find(r"^\s+Latency\s+(\S+)", output)
    if not (rps and total and p50 and p99 and mean):
        raise ValueError(f"cannot parse wrk output:\n{output}")
    non_2xx = _find(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = _find(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return LoadResult(
        tool="wrk",
        url=url,
        duration_s=_time_ms(total[2]) / 1000,
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        rps=float(rps[1]),
        p50_ms=_time_ms(p50[1]),
        p99_ms=_time_ms(p99[1]),
        mean_ms=_time_ms(mean[1]),
    )


def invoke(
    url: str,
    duration: float,
    connections: int,
    headers: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
) -> str:
    """Run wrk (with `extra` arguments, e.g. a Lua script) and return its report."""
    argv = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        *extra,
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stderr or done.stdout}"
        )
    return done.stdout


def run(
    url: str,
    duration: float,
    connections: int,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    return parse(invoke(url, duration, connections, headers), url)
