"""Reset one client connection of this process, found by its two addresses.

Granian has no write timeout. Once a client stops reading, what a response still has to send
waits in the server's buffers for as long as the client keeps the connection open, and a
worker does not stop while a response is unsent: a client that stops reading held a stop
until SERVER_SHUTDOWN_TIMEOUT killed the worker, and every such client left a connection and
its buffers behind. ASGI gives an app no way to close its own connection, so the stream that
drops such a client resets it here: it finds the socket among this process's descriptors
(Linux: /proc/self/fd) by its local port and its peer, and aborts it (SO_LINGER 0, then
shutdown). The server sees a failed write and lets the connection go.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("vibetuner")

PEER = "vibetuner.peer"
"""Scope key: the connection's own peer address, kept where X-Forwarded-For replaces
`client`, since that is what the socket knows."""
FD_DIR = "/proc/self/fd"
ABORT = struct.pack("ii", 1, 0)
"""SO_LINGER on, 0 s: closing sends a reset and drops what was not sent."""


def peer_of(scope: Mapping[str, Any]) -> tuple[str, int] | None:
    """The address at the other end of the scope's connection."""
    address = scope.get(PEER) or scope.get("client")
    return _address(address)


def reset_connection(peer: tuple[str, int] | None, local: Any) -> bool:
    """Abort this process's TCP connection between `local` and `peer`; False if none is
    found (the client already left, a Unix socket, or no /proc)."""
    here = _address(local)
    if peer is None or here is None:
        return False
    try:
        names = os.listdir(FD_DIR)
    except OSError:
        return False
    for name in names:
        try:
            # A duplicate: if the number is closed and reused meanwhile, what is checked and
            # what is reset are still the same socket.
            copy = os.dup(int(name))
        except (OSError, ValueError):
            continue
        try:
            sock = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)  # not a socket
            continue
        with sock:
            if _connects(sock, here[1], peer):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
                sock.shutdown(socket.SHUT_RDWR)
                return True
    logger.debug("No connection to %s:%s on port %s to reset", *peer, here[1])
    return False


def _connects(sock: socket.socket, port: int, peer: tuple[str, int]) -> bool:
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        there = _address(sock.getpeername())
        here = _address(sock.getsockname())
    except OSError:
        return False  # a listener, or not connected any more
    return here is not None and here[1] == port and there == peer


def _address(address: Any) -> tuple[str, int] | None:
    """(host, port) with the port as a number (Granian gives strings) and an IPv4 address
    mapped into IPv6 written as IPv4."""
    if not isinstance(address, tuple | list) or len(address) < 2:
        return None
    host, port = str(address[0]), address[1]
    try:
        number = int(port)
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), number
