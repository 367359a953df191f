"""Request, job and source metrics move as requests and jobs happen, and /metrics shows them."""

from __future__ import annotations

import math

import pytest

from tests.monitoring.conftest import build, client, sample
from vibetuner.monitoring import observe_job, set_active_sessions_source, set_queue_length_source

DURATION = "vibetuner_http_request_duration_seconds_count"
RESPONSES = "vibetuner_http_responses_total"


async def test_requests_are_timed_by_route_template(env: pytest.MonkeyPatch) -> None:
    before = sample(DURATION, method="GET", route="/posts/{id}")
    ok_before = sample(RESPONSES, status_class="2xx")
    async with client(build()) as http:
        for n in range(3):
            assert (await http.get(f"/posts/{n}")).status_code == 200
    assert sample(DURATION, method="GET", route="/posts/{id}") == before + 3
    assert sample(RESPONSES, status_class="2xx") == ok_before + 3
    assert sample(DURATION, method="GET", route="/posts/0") == 0  # never the raw path


async def test_unmatched_errors_and_odd_methods(env: pytest.MonkeyPatch) -> None:
    unmatched = sample(DURATION, method="GET", route="unmatched")
    client_errors = sample(RESPONSES, status_class="4xx")
    server_errors = sample(RESPONSES, status_class="5xx")
    other = sample(DURATION, method="other", route="/posts/{id}")
    async with client(build()) as http:
        assert (await http.get("/no/such/page")).status_code == 404
        assert (await http.get("/boom")).status_code == 500
        assert (await http.request("BREW", "/posts/1")).status_code == 405
    assert sample(DURATION, method="GET", route="unmatched") == unmatched + 1
    assert sample(RESPONSES, status_class="4xx") == client_errors + 2
    assert sample(RESPONSES, status_class="5xx") == server_errors + 1
    assert sample(DURATION, method="other", route="/posts/{id}") == other + 1


async def test_in_flight_counts_the_current_request(env: pytest.MonkeyPatch) -> None:
    async with client(build()) as http:
        during = (await http.get("/in-flight")).text
    assert float(during) == 1.0
    assert sample("vibetuner_http_requests_in_flight") == 0.0


async def test_scrapes_are_not_counted(env: pytest.MonkeyPatch) -> None:
    before = sample(DURATION, method="GET", route="/metrics")
    async with client(build()) as http:
        assert (await http.get("/metrics")).status_code == 200
    assert sample(DURATION, method="GET", route="/metrics") == before


async def test_metrics_page_exposes_every_metric(env: pytest.MonkeyPatch) -> None:
    async def sessions() -> int:
        return 7

    async def queue() -> float:
        return 3

    set_active_sessions_source(sessions)
    set_queue_length_source(queue)
    async with client(build()) as http:
        await http.get("/posts/1")
        page = await http.get("/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=")
    for name in (
        "vibetuner_http_request_duration_seconds_bucket",
        "vibetuner_http_responses_total",
        "vibetuner_http_requests_in_flight",
        "vibetuner_active_sessions 7.0",
        "vibetuner_job_queue_length 3.0",
        "# TYPE vibetuner_jobs_total counter",
        "# TYPE vibetuner_db_call_seconds histogram",
        "# TYPE vibetuner_redis_call_seconds histogram",
    ):
        assert name in page.text, name


async def test_a_failing_source_reads_nan(env: pytest.MonkeyPatch) -> None:
    async def broken() -> float:
        raise ConnectionError("store down")

    set_active_sessions_source(broken)
    async with client(build()) as http:
        assert (await http.get("/metrics")).status_code == 200
    assert math.isnan(sample("vibetuner_active_sessions"))


def test_job_outcomes_are_counted() -> None:
    before = {o: sample("vibetuner_jobs_total", outcome=o) for o in ("ok", "retried", "dead")}
    observe_job("ok")
    observe_job("ok")
    observe_job("retried")
    observe_job("dead")
    after = {o: sample("vibetuner_jobs_total", outcome=o) for o in ("ok", "retried", "dead")}
    assert after == {"ok": before["ok"] + 2, "retried": before["retried"] + 1,
                     "dead": before["dead"] + 1}  # fmt: skip
    with pytest.raises(ValueError, match="unknown job outcome"):
        observe_job("lost")  # type: ignore[arg-type]


async def test_route_templates_through_prefixes_and_mounts(env: pytest.MonkeyPatch) -> None:
    """Include prefixes and mounts are literal text before the route's own template; a
    prefix with a parameter of its own never puts raw values in the label."""
    from fastapi import APIRouter, FastAPI
    from starlette.responses import PlainTextResponse

    from vibetuner.monitoring import MetricsMiddleware

    shelf = APIRouter(prefix="/shelf")

    @shelf.get("/{item_id}")
    async def item(item_id: int) -> PlainTextResponse:
        return PlainTextResponse(str(item_id))

    inner = FastAPI()
    inner.include_router(shelf)
    app = FastAPI()
    app.include_router(shelf, prefix="/v2")
    app.include_router(shelf, prefix="/t/{tenant}")
    app.mount("/inner", inner)
    app.add_middleware(MetricsMiddleware)
    wanted = ["/v2/shelf/{item_id}", "/inner/shelf/{item_id}", "/shelf/{item_id}"]
    before = [sample(DURATION, method="GET", route=route) for route in wanted]
    async with client(app) as http:
        for url in ("/v2/shelf/1", "/inner/shelf/2", "/t/acme/shelf/3"):
            assert (await http.get(url)).status_code == 200
    assert [sample(DURATION, method="GET", route=r) for r in wanted] == [n + 1 for n in before]
    assert sample(DURATION, method="GET", route="/t/acme/shelf/{item_id}") == 0
