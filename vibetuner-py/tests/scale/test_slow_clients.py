"""Slowloris on a raw instance (no Caddy): hundreds of clients trickling their headers
one byte a second do not starve anyone else, and are cut off by SERVER_HEADER_TIMEOUT."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pytest
from scale._cluster import FORWARDED_HTTPS, Cluster

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 300
SERVED_WHILE_HELD = 5
"""Normal requests answered while every slow client is still connected: a starved server
answers none until SERVER_HEADER_TIMEOUT frees its slots."""


class _Trickle(threading.Thread):
    """Open the sockets, then send one more header byte on each every second, watching
    (every 50 ms) for the server to cut one off."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.sockets: list[socket.socket] = []
        self.opened = threading.Event()
        self.first_cut_at: float | None = None
        self.cut_off = 0
        self.stop = threading.Event()

    def run(self) -> None:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            sock.setblocking(False)
            sock.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.sockets.append(sock)
        self.opened.set()
        next_byte = time.monotonic() + 1.0
        while not self.stop.wait(0.05):
            send = time.monotonic() >= next_byte
            if send:
                next_byte += 1.0
            for sock in list(self.sockets):
                try:
                    if send:
                        sock.send(b"a")
                    if sock.recv(1024) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    if self.first_cut_at is None:
                        self.first_cut_at = time.monotonic()
                    self.cut_off += 1
                    self.sockets.remove(sock)
                    sock.close()

    def close(self) -> None:
        self.stop.set()
        self.join(30)
        for sock in self.sockets:
            sock.close()


def _until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never {what} in {timeout:.0f} s"
        time.sleep(0.05)


def test_slow_clients_do_not_exhaust_the_workers(
    cluster: Cluster, scale_results: dict[str, Any]
) -> None:
    node = cluster.nodes[1]
    warm = httpx.get(f"{node.url}/", headers=FORWARDED_HTTPS, timeout=30)
    assert warm.status_code == 200
    trickle = _Trickle(node.port)
    trickle.start()
    answered: list[tuple[float, float]] = []  # (finished at, seconds taken)
    try:
        assert trickle.opened.wait(60), "the slow clients could not connect"
        # Normal visitors, one after another, until the server starts cutting slow ones off.
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=node.url, headers=FORWARDED_HTTPS, timeout=30) as client:
            while trickle.first_cut_at is None and time.monotonic() < deadline:
                started = time.monotonic()
                page = client.get("/", headers={"Connection": "close"})
                assert page.status_code == 200
                answered.append((time.monotonic(), time.monotonic() - started))
        _until(lambda: trickle.cut_off >= SLOW_CLIENTS * 0.9, "cut off the slow clients")
    finally:
        trickle.close()
    first_cut = trickle.first_cut_at or float("inf")
    held = [taken for done, taken in answered if done < first_cut]
    scale_results["slow_clients"] = {
        "slow_clients": SLOW_CLIENTS,
        "cut_off_by_header_timeout": trickle.cut_off,
        "normal_requests_while_held": len(held),
        "slowest_normal_ms": round(max(held, default=0.0) * 1000, 1),
    }
    assert len(held) >= SERVED_WHILE_HELD, (
        f"only {len(held)} normal requests were answered while {SLOW_CLIENTS} slow clients "
        "held their connections"
    )
