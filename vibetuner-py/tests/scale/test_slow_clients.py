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
SECONDS = 8.0


class _Trickle(threading.Thread):
    """Open the sockets, then send one more header byte on each every second."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.sockets: list[socket.socket] = []
        self.cut_off = 0
        self.stop = threading.Event()

    def run(self) -> None:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.setblocking(False)
            sock.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.sockets.append(sock)
        while not self.stop.wait(1.0):
            for sock in list(self.sockets):
                try:
                    sock.send(b"a")
                    if sock.recv(1024) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    self.cut_off += 1
                    self.sockets.remove(sock)
                    sock.close()

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        for sock in self.sockets:
            sock.close()


def test_slow_clients_do_not_exhaust_the_workers(
    cluster: Cluster, scale_results: dict[str, Any]
) -> None:
    node = cluster.nodes[1]
    warm = httpx.get(f"{node.url}/", headers=FORWARDED_HTTPS, timeout=10)
    assert warm.status_code == 200
    trickle = _Trickle(node.port)
    trickle.start()
    latencies: list[float] = []
    try:
        time.sleep(1.0)
        deadline = time.monotonic() + SECONDS
        with httpx.Client(base_url=node.url, headers=FORWARDED_HTTPS, timeout=5) as client:
            while time.monotonic() < deadline:
                started = time.monotonic()
                page = client.get("/", headers={"Connection": "close"})
                latencies.append(time.monotonic() - started)
                assert page.status_code == 200
                time.sleep(0.1)
    finally:
        trickle.close()
    scale_results["slow_clients"] = {
        "slow_clients": SLOW_CLIENTS,
        "cut_off_by_header_timeout": trickle.cut_off,
        "normal_requests": len(latencies),
        "slowest_normal_ms": round(max(latencies) * 1000, 1),
    }
    assert len(latencies) > 20
    assert max(latencies) < 1.0, f"slowest normal request {max(latencies):.2f} s"
    assert trickle.cut_off >= SLOW_CLIENTS * 0.9, (
        f"only {trickle.cut_off} of {SLOW_CLIENTS} slow clients were cut off"
    )
