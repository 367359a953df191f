"""Pure-Python HTTP/1.1 keep-alive load generator (used when wrk is missing).

N connections each send requests back to back for a fixed duration. Requests in
flight at the deadline may finish within `request_timeout`; stragglers are
cancelled and counted as errors, so a run never outlasts duration + timeout.
Latencies go into a bounded reservoir sample; counts are exact.

    python -m bench.loadgen http://127.0.0.1:8000/ --duration 5 --connections 32
"""

import argparse
import asyncio
import json
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

MAX_SAMPLES = 200_000


@dataclass
class LoadResult:
    tool: str
    url: str
    duration_s: float
    requests: int
    non_2xx: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float


@dataclass
class _Stats:
    ok: int = 0
    non_2xx: int = 0
    errors: int = 0
    seen: int = 0
    samples: list[float] = field(default_factory=list)

    def record(self, status: int, seconds: float) -> None:
        if 200 <= status < 300:
            self.ok += 1
        else:
            self.non_2xx += 1
        self.seen += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(seconds)
        else:
            slot = random.randrange(self.seen)
            if slot < MAX_SAMPLES:
                self.samples[slot] = seconds


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(
        len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1)
    )
    return sorted_values[index]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = b"close" not in value.lower()
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep_alive = False
    return status, keep_alive


async def _connection(
    host: str, port: int, request: bytes, deadline: float, stats: _Stats
) -> None:
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while time.perf_counter() < deadline:
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                writer.write(request)
                status, keep_alive = await _read_response(reader)
                stats.record(status, time.perf_counter() - started)
                if not keep_alive:
                    writer.close()
                    writer = reader = None
            except (
                OSError,
                EOFError,
                ValueError,
                IndexError,
                asyncio.IncompleteReadError,
            ):
                stats.errors += 1
                if writer is not None:
                    writer.close()
                writer = reader = None
                await asyncio.sleep(0.01)
    finally:
        if writer is not None:
            writer.close()


def _build_request(path: str, host_header: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def run_load(
    url: str,
    duration: float,
    connections: int,
    headers: Mapping[str, str] | None = None,
    request_timeout: float = 5.0,
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    request = _build_request(path, parts.netloc, headers or {})
    stats = _Stats()
    started = time.perf_counter()
    deadline = started + duration
    tasks = [
        asyncio.create_task(_connection(host, port, request, deadline, stats))
        for _ in range(connections)
    ]
    _, pending = await asyncio.wait(tasks, timeout=duration + request_timeout)
    for task in pending:
        task.cancel()
    stats.errors += len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.perf_counter() - started
    samples = sorted(stats.samples)
    return LoadResult(
        tool="python",
        url=url,
        duration_s=round(elapsed, 3),
        requests=stats.seen,
        non_2xx=stats.non_2xx,
        errors=stats.errors,
        rps=stats.seen / elapsed if elapsed else 0.0,
        p50_ms=percentile(samples, 0.50) * 1000,
        p99_ms=percentile(samples, 0.99) * 1000,
        mean_ms=(sum(samples) / len(samples) * 1000) if samples else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "-H", "--header", action="append", default=[], help="'Name: value'"
    )
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    result = asyncio.run(run_load(args.url, args.duration, args.connections, headers))
    print(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
