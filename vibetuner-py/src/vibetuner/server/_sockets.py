"""Reset one client connection of this process, found by its two addresses.

Granian has no write timeout. Once a client stops reading, what a response still has to send
waits in the server's buffers for as long as the client keeps the connection open, and a
worker does not stop while a response is unsent: a client that stops reading held a stop
until SERVER_SHUTDOWN_TIMEOUT killed the worker, and every such client left a connection and
its buffers behind. ASGI gives an app no way to close its own connection, so the stream that
drops such a client resets it here: it finds the socket among this process's descriptors
(Linux: /proc/self/fd) by its local port and its peer, and aborts it (SO_LINGER 0, then
shutdown). The server sees a failed write and lets the connection go.

A file (sent by Granian itself: `http.response.pathsend`) or an app's own stream can be held
the same way, out of Python's sight. So a stopping worker resets whatever client connections
are still open just before it would be killed (`reset_clients`, see `_drain`): it then stops
by itself, and its shutdown runs. Those are matched by the listener's port alone: after the
listener closed, an outgoing connection of the worker could in principle get that port as
its own (only a port in the ephemeral range, never 8000), and would be reset too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vibetuner.config import ascii_int
from vibetuner.server._net import plain_address

logger = logging.getLogger("vibetuner")

PEER = "vibetuner.peer"
"""Scope key: the connection's own peer address, kept where X-Forwarded-For replaces
`client`, since that is what the socket knows."""
SOCKET_HOST = "vibetuner.socket_host"
"""Scope key: the Host header the connection itself sent, kept where a trusted proxy's
X-Forwarded-Host replaces it (a page rebound to this machine can send that header too)."""
FD_DIR = "/proc/self/fd"
ABORT = struct.pack("ii", 1, 0)
"""SO_LINGER on, 0 s: closing sends a reset and drops what was not sent."""


def peer_of(scope: Mapping[str, Any]) -> tuple[str, int] | None:
    """The address at the other end of the scope's connection."""
    address = scope.get(PEER) or scope.get("client")
    return _address(address)


def reset_connection(peer: tuple[str, int] | None, local: Any) -> bool:
    """Abort this process's TCP connection between `local` and `peer`; False if none is
    found (the client already left, a Unix socket, or no /proc). Blocking: scans every
    descriptor, so call it off the event loop."""
    here = _address(local)
    if peer is None or here is None:
        return False
    for _fd, sock in _tcp_sockets():
        with sock:
            if _ends(sock) == (here[1], peer):
                _abort(sock)
                return True
    logger.debug("No connection to %s:%s on port %s to reset", *peer, here[1])
    return False


@dataclass(frozen=True)
class Listener:
    """A listening socket of this process, known by its descriptor and the socket on it."""

    fd: int
    link: str
    port: int

    def is_open(self) -> bool:
        """Still listening (a stopping server closes its listener first)."""
        return _link(self.fd) == self.link


def listeners() -> list[Listener]:
    """This process's listening TCP sockets."""
    found = []
    for fd, sock in _tcp_sockets():
        with sock:
            if _listening(sock):
                found.append(Listener(fd, _link(fd), int(sock.getsockname()[1])))
    return found


def reset_clients(ports: Collection[int]) -> int:
    """Abort every connection a client made to this process on one of `ports` (a worker's
    stop, just before it would be killed); how many there were."""
    reset = 0
    for _fd, sock in _tcp_sockets():
        with sock:
            ends = _ends(sock)
            if ends is not None and ends[0] in ports:
                _abort(sock)
                reset += 1
    return reset


def _link(fd: int) -> str:
    try:
        return os.readlink(f"{FD_DIR}/{fd}")
    except OSError:
        return ""


def _tcp_sockets() -> Iterator[tuple[int, socket.socket]]:
    """This process's TCP sockets, each a duplicate that the caller closes: if a descriptor
    is closed and its number reused meanwhile, what is checked and what is reset stay one
    socket."""
    try:
        names = os.listdir(FD_DIR)
    except OSError:
        return
    for name in names:
        fd = ascii_int(name)
        if fd is None or not _link(fd).startswith("socket:"):
            continue  # a file or a pipe: one readlink, no duplicate
        try:
            copy = os.dup(fd)
        except OSError:
            continue
        try:
            blocking = os.get_blocking(copy)
            sock = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)
            continue
        # With socket.setdefaulttimeout() set, a new socket object switches its descriptor to
        # non-blocking, and the flag is shared with the original: give the owner its mode back.
        os.set_blocking(copy, blocking)
        if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
            yield fd, sock
        else:
            sock.close()


def _listening(sock: socket.socket) -> bool:
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False


def _ends(sock: socket.socket) -> tuple[int, tuple[str, int]] | None:
    """(local port, peer) of a connected socket; None for a listener or a closed one."""
    try:
        there = _address(sock.getpeername())
        here = _address(sock.getsockname())
    except OSError:
        return None
    return None if here is None or there is None else (here[1], there)


def _abort(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the client may have left meanwhile
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
        sock.shutdown(socket.SHUT_RDWR)


def _address(address: Any) -> tuple[str, int] | None:
    """(host, port) with the port as a number (Granian gives strings) and an IPv4 address
    mapped into IPv6 written as IPv4."""
    if not isinstance(address, tuple | list) or len(address) < 2:
        return None
    try:
        port = int(address[1])
    except (TypeError, ValueError):  # a Unix socket's (path, None)
        return None
    ip = plain_address(str(address[0]))
    return None if ip is None else (str(ip), port)
