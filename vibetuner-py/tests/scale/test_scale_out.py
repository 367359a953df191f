"""The six scale-out checks, on 3 instances (2 workers each) behind Caddy, plus the proxy
settings and a mixed-route load through Caddy."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from typing import Any

import httpx
import pytest
from scale._cluster import FORWARDED_HTTPS, Cluster
from scale._load import Probe, run_mixed, wrk_available
from scale._visitor import Visitor, link_for, messages_to, sign_in

from vibetuner.testing._jobs import queue_of, wait_until_drained
from vibetuner.testing._required import missing

pytestmark = pytest.mark.slow

HX = {"HX-Request": "true"}
LOAD_SECONDS = float(os.environ.get("SCALE_LOAD_SECONDS", "10"))
WARM = 20
"""Probe answers to see before a restart or a kill: the load is on."""
RECOVERED = 50
"""Successful probe answers in a row after a kill: the survivors serve everything."""


def _drained(cluster: Cluster) -> None:
    """Until no job is queued, scheduled or running: any duplicate would have run by now."""
    wait_until_drained(cluster.env["REDIS_URL"], queue_of(cluster.env))


def test_a_session_from_one_instance_is_valid_on_every_other(cluster: Cluster) -> None:
    first, *others = cluster.nodes
    visitor = sign_in(cluster, "roamer@example.com", via=first)
    try:
        for node in cluster.nodes:
            page = visitor.get("/account", via=node)
            assert page.status_code == 200, (node.index, page.status_code)
            assert "roamer@example.com" in page.text
        for _ in range(len(cluster.nodes) * 2):  # round robin covers every instance
            assert visitor.get("/account").status_code == 200
        stranger = Visitor(cluster)
        assert stranger.get("/account", via=others[0]).status_code == 303
        stranger.close()
    finally:
        visitor.close()


def test_changes_and_logout_reach_every_instance_at_once(cluster: Cluster) -> None:
    """Each worker caches the sessions it reads; Redis invalidates them on any change."""
    first, *others = cluster.nodes
    visitor = sign_in(cluster, "cached@example.com", via=first)
    try:
        for node in cluster.nodes:
            for _ in range(4):  # both workers of every instance have read the session
                assert visitor.get("/account", via=node).status_code == 200
        renamed = visitor.request(
            "POST", "/account/name", via=first,
            data={"name": "Renamed Everywhere", "csrf_token": visitor.csrf("/account", first)},
        )  # fmt: skip
        assert renamed.status_code == 303
        for node in others:
            for _ in range(4):
                assert "Renamed Everywhere" in visitor.get("/account", via=node).text
        old_cookie = visitor.cookie
        token = visitor.csrf("/auth/logout", first)
        logout = visitor.request("POST", "/auth/logout", via=first, data={"csrf_token": token})
        assert logout.status_code == 303
        for node in cluster.nodes:
            for _ in range(4):
                replay = visitor.direct.get(node.url + "/account", headers={"Cookie": old_cookie})
                assert replay.status_code == 303, "a signed-out session is gone on every worker"
    finally:
        visitor.close()


def test_rate_limits_hold_across_instances(cluster: Cluster) -> None:
    email = f"limited-{secrets.token_hex(4)}@example.com"
    visitor = Visitor(cluster)
    try:
        statuses = [
            visitor.ask_for_link(email, via=cluster.nodes[attempt % 3]).status_code
            for attempt in range(5)
        ]
    finally:
        visitor.close()
    assert statuses == [200, 200, 200, 429, 429], "RATE_LIMIT_LOGIN_EMAIL is 3/15minutes"
    link_for(cluster, email)
    _drained(cluster)
    assert len(messages_to(cluster, email)) == 3


def test_a_job_enqueued_on_any_instance_runs_exactly_once(cluster: Cluster) -> None:
    """Sign-in emails are jobs: each instance enqueues some, the one worker sends each once."""
    emails = {node.index: [f"job-{node.index}-{n}-{secrets.token_hex(3)}@example.com"
                           for n in range(3)] for node in cluster.nodes}  # fmt: skip
    visitor = Visitor(cluster)
    try:
        for node in cluster.nodes:
            for email in emails[node.index]:
                assert visitor.ask_for_link(email, via=node).status_code == 200
    finally:
        visitor.close()
    everyone = [email for batch in emails.values() for email in batch]
    for email in everyone:
        link_for(cluster, email)
    _drained(cluster)
    assert {email: len(messages_to(cluster, email)) for email in everyone} == dict.fromkeys(
        everyone, 1
    )


class _Listener(threading.Thread):
    """An SSE client connected straight to one instance, keeping every line it reads.

    `error` is what ended the stream if the server did not close it properly; right after
    it ends, `ready_after_end` is what the instance's /health/ready answered (None: refused):
    503 once any worker says so within a second. Each worker notices the drain on its own
    (within `_drain.POLL_SECONDS`), so the one that answers may not have yet, while the
    instance drains for SERVER_DRAIN_SECONDS (2 s) in all.
    """

    def __init__(self, url: str, ready: str = "") -> None:
        super().__init__(daemon=True)
        self.url = url
        self.ready = ready
        self.lines: list[str] = []
        self.connected = threading.Event()
        self.client = httpx.Client(timeout=httpx.Timeout(5.0, read=30.0))
        self.error: str | None = None
        self.ready_after_end: int | None = None

    def run(self) -> None:
        try:
            with self.client.stream("GET", self.url, headers=FORWARDED_HTTPS) as stream:
                for line in stream.iter_lines():
                    self.connected.set()
                    self.lines.append(line)
        except httpx.HTTPError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        if not self.ready:
            return
        deadline = time.monotonic() + 1.0
        while True:
            try:
                self.ready_after_end = httpx.get(self.ready, timeout=5).status_code
            except httpx.HTTPError:
                self.ready_after_end = None
                return
            if self.ready_after_end == 503 or time.monotonic() > deadline:
                return
            time.sleep(0.02)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def close(self) -> None:
        self.client.close()


def test_a_broadcast_reaches_clients_on_every_instance(cluster: Cluster, member: Visitor) -> None:
    listeners = [_Listener(f"{node.url}/posts/live") for node in cluster.nodes]
    for listener in listeners:
        listener.start()
    try:
        for listener in listeners:
            assert listener.connected.wait(10), f"no SSE stream from {listener.url}"
        content = f"Hello from the load balancer {secrets.token_hex(4)}"
        headers = {**HX, "X-CSRF-Token": member.csrf("/posts")}
        created = member.request("POST", "/posts", headers=headers, data={"content": content})
        assert created.status_code == 200, created.text[:300]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(x.saw(content) for x in listeners):
            time.sleep(0.05)
        assert [x.saw(content) for x in listeners] == [True] * len(listeners)
    finally:
        for listener in listeners:
            listener.close()


def test_proxy_https_headers_are_honoured(cluster: Cluster) -> None:
    """Caddy terminates TLS and sends X-Forwarded-Proto=https: HSTS and Secure cookies."""
    with cluster.client() as client:
        page = client.get("/auth/login")
    assert page.status_code == 200
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert "secure" in page.headers["set-cookie"].lower()
    plain = httpx.get(f"{cluster.nodes[0].url}/auth/login")
    assert plain.status_code == 308
    assert plain.headers["location"].startswith("https://")
    ping = httpx.get(f"{cluster.nodes[0].url}/health/ping")
    assert ping.status_code == 200, "probes stay reachable over plain HTTP"


def test_mixed_load_through_caddy_has_no_server_errors(
    cluster: Cluster, member: Visitor, scale_results: dict[str, Any], tmp_path: Any
) -> None:
    if not wrk_available():
        missing("wrk is not installed (apt-get install wrk)")
    result = run_mixed(cluster.lb_url, member.cookie, LOAD_SECONDS, 64, tmp_path)
    scale_results["load"] = result
    print(f"\nload {LOAD_SECONDS:.0f} s x 64: {result['rps']:.0f} req/s, "
          f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"5xx {result['server_errors']}")  # fmt: skip
    assert result["requests"] > 0
    assert result["server_errors"] == 0
    assert result["non_2xx"] == 0, "every route answers 200 to a signed-in visitor"
    assert result["errors"] == 0, "no socket errors or timeouts"


def _until_draining(ready: str, timeout: float = 30.0) -> int:
    """Poll /health/ready until it answers 503 (the workers saw the drain marker)."""
    deadline = time.monotonic() + timeout
    while (status := httpx.get(ready, timeout=5).status_code) != 503:
        assert time.monotonic() < deadline, f"/health/ready still answers {status}"
        time.sleep(0.05)
    return status


def test_sigterm_drains_before_the_listener_closes(
    cluster: Cluster, scale_results: dict[str, Any]
) -> None:
    """After SIGTERM: readiness 503 (Caddy moves on) while liveness stays 200, pages still
    served with Connection: close, live streams closed properly while the instance still
    drains, then the instance exits by itself (no kill)."""
    node = cluster.nodes[0]
    ready = f"{node.url}/health/ready"
    listener = _Listener(f"{node.url}/posts/live", ready=ready)
    listener.start()
    try:
        assert listener.connected.wait(30), "no SSE stream"
        assert node.child is not None
        signalled = time.monotonic()
        node.child.proc.send_signal(signal.SIGTERM)
        draining = _until_draining(ready)
        alive = httpx.get(f"{node.url}/health/ping", timeout=5).status_code
        page = httpx.get(f"{node.url}/", headers=FORWARDED_HTTPS, timeout=30)
        listener.join(60)
        stream_ended_after = time.monotonic() - signalled
        exited_after = cluster.terminate_instance(node.index) + stream_ended_after
    finally:
        listener.close()
        cluster.start_instance(node.index)
    scale_results["sigterm"] = {
        "stream_ended_after_s": round(stream_ended_after, 2),
        "exited_after_s": round(exited_after, 2),
    }
    assert draining == 503
    assert alive == 200, "liveness stays 200 while the instance drains"
    assert page.status_code == 200 and page.headers["connection"] == "close"
    assert not listener.is_alive(), "the live stream outlived the drain"
    assert listener.error is None, f"the live stream broke instead of ending: {listener.error}"
    assert listener.ready_after_end == 503, "the stream ended while the instance still drained"


def _probe(cluster: Cluster, member: Visitor) -> Probe:
    """Pages, a signed-in page, the htmx partial and new posts (which are never retried)."""
    paths = ("/", "/account", "/posts", "POST /posts")
    return Probe(cluster.lb_url, cluster.ca_file, cookie=member.cookie,
                 csrf=member.csrf("/posts"), paths=paths)  # fmt: skip


def test_rolling_restart_under_load_fails_no_request(
    cluster: Cluster, member: Visitor, scale_results: dict[str, Any]
) -> None:
    timings: list[dict[str, float]] = []
    with _probe(cluster, member) as probe:
        probe.wait_until(lambda report: report.total >= WARM, "the load start")
        for node in cluster.nodes:
            exit_s = cluster.terminate_instance(node.index)
            started = time.monotonic()
            cluster.start_instance(node.index)
            healthy_s = time.monotonic() - started
            back = probe.now()
            # Caddy's active health check sees it back: it serves the probe again.
            probe.wait_until(
                lambda report, port=node.port, since=back: report.served_by(port, since),
                f"instance {node.index} serve through Caddy again",
            )
            in_rotation_s = time.monotonic() - started
            timings.append({"exit_s": round(exit_s, 2), "back_healthy_s": round(healthy_s, 2),
                            "back_in_rotation_s": round(in_rotation_s, 2)})  # fmt: skip
    report = probe.report
    scale_results["rolling_restart"] = {
        "requests": report.total,
        "failed": len(report.failures),
        "instances": timings,
    }
    assert report.total > WARM
    assert [f.detail for f in report.failures] == []


def test_a_killed_instance_is_taken_out_of_rotation(
    cluster: Cluster, member: Visitor, scale_results: dict[str, Any]
) -> None:
    victim = cluster.nodes[-1]
    with _probe(cluster, member) as probe:
        probe.wait_until(lambda report: report.total >= WARM, "the load start")
        killed_at = probe.now()
        cluster.kill_instance(victim.index)
        probe.wait_until(
            lambda report: report.ok_in_a_row(killed_at) >= RECOVERED,
            f"{RECOVERED} successful answers in a row after the kill",
        )
    failures = probe.report.failures_between(killed_at, float("inf"))
    recovered_after = (failures[-1].at - killed_at) if failures else 0.0
    scale_results["sigkill"] = {
        "requests": probe.report.total,
        "errors": len(failures),
        "errors_stopped_after_s": round(recovered_after, 3),
        "error_kinds": sorted({f.detail for f in failures}),
    }
    print(f"\nSIGKILL: {len(failures)} failed requests, errors stopped after "
          f"{recovered_after:.2f} s")  # fmt: skip
    try:
        # After the kill, the probe waited for RECOVERED answers in a row: the survivors
        # serve everything. How long the errors lasted is a figure (scale-checks.json).
        assert probe.report.failures_between(0, killed_at) == []
    finally:
        cluster.start_instance(victim.index)
