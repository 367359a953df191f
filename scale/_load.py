"""Load through the load balancer: wrk on a mixed route set, and a probe that times errors.

wrk gives the throughput figure (req/s, p50, p99, 5xx). The probe is a steady stream of
requests from a background thread that records when each one failed, which is what a
rolling restart or a killed instance is judged by.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from bench import _wrk

MIXED_LUA = """\
-- Rotate through the routes; count 5xx across threads.
local routes = {
  {"/", {}},
  {"/account", {}},
  {"/posts", {["HX-Request"] = "true"}},
  -- EXTRA ROUTES
}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  server_errors = 0
  prepared = {}
  for i, route in ipairs(routes) do
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    for k, v in pairs(route[2]) do headers[k] = v end
    prepared[i] = wrk.format("GET", route[1], headers)
  end
end

function request()
  n = n + 1
  return prepared[(n % #prepared) + 1]
end

function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("server_errors") end
  io.write(string.format("5xx responses: %d\\n", total))
end
"""

MIXED_ROUTES = ["/", "/account (signed in)", "/posts (htmx partial)"]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_mixed(
    base_url: str,
    cookie: str,
    duration: float,
    connections: int,
    workdir: Path,
    htmx_paths: tuple[str, ...] = (),
) -> dict[str, Any]:
    """wrk for `duration` seconds on the mixed routes (and `htmx_paths`, asked as htmx
    does), signed in; the parsed report."""
    script = workdir / "mixed.lua"
    added = "".join(
        f'  {{"{path}", {{["HX-Request"] = "true"}}}},\n' for path in htmx_paths
    )
    script.write_text(MIXED_LUA.replace("  -- EXTRA ROUTES\n", added))
    extra = ["-s", str(script), "--timeout", "10s"]
    report = _wrk.invoke(base_url, duration, connections, {"Cookie": cookie}, extra)
    result = asdict(_wrk.parse(report, base_url))
    server_errors = next(
        (int(line.split(":")[1]) for line in report.splitlines() if "5xx" in line),
        None,
    )
    if server_errors is None:
        raise RuntimeError(f"wrk printed no 5xx count:\n{report}")
    routes = MIXED_ROUTES + [f"{path} (htmx partial)" for path in htmx_paths]
    result.update(connections=connections, routes=routes, server_errors=server_errors)
    return result


@dataclass
class Outcome:
    at: float
    """Seconds since the probe started."""
    ok: bool
    detail: str
    upstream: str = ""
    """The instance Caddy sent it to (host:port), when it answered."""


@dataclass
class ProbeReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def failures_between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.failures if start <= o.at <= end]

    def served_by(self, port: int, since: float) -> int:
        """Answers from the instance on `port` at or after `since`."""
        suffix = f":{port}"
        return sum(
            1
            for o in list(self.outcomes)
            if o.at >= since and o.upstream.endswith(suffix)
        )

    def ok_in_a_row(self, since: float) -> int:
        """How many of the latest outcomes, all at or after `since`, succeeded in a row."""
        count = 0
        for outcome in reversed(list(self.outcomes)):
            if outcome.at < since or not outcome.ok:
                break
            count += 1
        return count


class Probe:
    """`concurrency` loops of requests through the load balancer, each outcome timestamped.

    A path written "POST /posts" posts a new message, as htmx does (with `csrf`): unlike
    GETs, a proxy may not retry it, so it fails if an instance drops it mid-request.
    """

    def __init__(
        self,
        base_url: str,
        ca_file: Path,
        *,
        cookie: str = "",
        csrf: str = "",
        paths: tuple[str, ...] = ("/", "/posts"),
        concurrency: int = 8,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self.ca_file = ca_file
        self.headers = {"Cookie": cookie} if cookie else {}
        self.post_headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        self.paths = paths
        self.concurrency = concurrency
        self.timeout = timeout
        self.report = ProbeReport()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0.0

    def now(self) -> float:
        return time.monotonic() - self.started

    async def _loop(self, client: httpx.AsyncClient, offset: int) -> None:
        count = offset
        while not self._stop.is_set():
            path = self.paths[count % len(self.paths)]
            count += 1
            try:
                if path.startswith("POST "):
                    form = {"content": f"Probe {offset}-{count}"}
                    answer = await client.post(
                        path[5:], data=form, headers=self.post_headers
                    )
                else:
                    answer = await client.get(path)
                ok = answer.status_code < 400
                detail = str(answer.status_code)
                upstream = answer.headers.get("x-upstream", "")
            except httpx.HTTPError as exc:
                ok, detail, upstream = False, f"{type(exc).__name__}: {exc}", ""
            outcome = Outcome(self.now(), ok, f"{path} {detail}", upstream)
            self.report.outcomes.append(outcome)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers=self.headers,
            timeout=self.timeout,
            limits=limits,
        ) as client:
            await asyncio.gather(
                *(self._loop(client, i) for i in range(self.concurrency))
            )

    def __enter__(self) -> Self:
        self.started = time.monotonic()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), daemon=True
        )
        self._thread.start()
        return self

    def wait_until(
        self,
        condition: Callable[[ProbeReport], object],
        what: str,
        timeout: float = 60.0,
    ) -> float:
        """Until `condition(report)` holds; the probe's time then. Fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not condition(self.report):
            if time.monotonic() > deadline:
                raise AssertionError(f"the probe never saw {what} in {timeout:.0f} s")
            time.sleep(0.05)
        return self.now()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
