"""`server._sockets`: the connection a stream drops is found by its addresses and reset."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from vibetuner.server._sockets import (
    PEER,
    listeners,
    peer_of,
    reset_clients,
    reset_connection,
)


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A client and the server's end of its connection, both in this process."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            yield client, accepted


def test_the_server_end_is_reset_and_the_client_sees_it(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    client, accepted = connection
    host, port = client.getsockname()
    local = accepted.getsockname()
    # As Granian puts them in the scope: ports as text.
    assert reset_connection((host, port), (local[0], str(local[1])))
    client.settimeout(10)
    with contextlib.suppress(ConnectionResetError):  # a reset, or else...
        assert client.recv(1) == b""  # ...the end of the stream
    with pytest.raises(OSError):
        accepted.send(b"x" * 1_000_000)  # what the server would still send fails


def test_nothing_is_reset_without_a_match(connection: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = connection
    host, port = client.getsockname()
    local = accepted.getsockname()
    assert not reset_connection((host, port + 1 if port < 65535 else 1), local)
    assert not reset_connection(None, local)
    assert not reset_connection((host, port), None)  # a Unix socket: no address
    assert not reset_connection(("not an address", port), local)
    accepted.sendall(b"still open")
    assert client.recv(10) == b"still open"


def test_the_peer_is_the_sockets_own_behind_a_proxy() -> None:
    proxied = {"client": ("203.0.113.9", 0), PEER: ("::ffff:127.0.0.1", "41000")}
    assert peer_of(proxied) == ("127.0.0.1", 41000)
    assert peer_of({"client": ("127.0.0.1", "41000")}) == ("127.0.0.1", 41000)
    assert peer_of({"client": None}) is None


def test_every_client_of_a_listener_is_reset_and_nothing_else() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        # Two clients of this process's listener, and (as a database connection would be)
        # this process's own outgoing end of each: only the accepted ends are its clients.
        outgoing = [socket.create_connection(listener.getsockname()) for _ in range(2)]
        accepted = [listener.accept()[0] for _ in outgoing]
        try:
            port = listener.getsockname()[1]
            [found] = [found for found in listeners() if found.port == port]
            assert found.is_open()
            assert reset_clients({port}) == 2
            for sock in accepted:
                assert _lingers(sock), "aborted"
                with pytest.raises(OSError):
                    sock.send(b"x" * 1_000_000)
            assert not any(_lingers(sock) for sock in outgoing), "left alone"
            assert _lingers(listener) is False
        finally:
            for sock in [*outgoing, *accepted]:
                sock.close()


def _lingers(sock: socket.socket) -> bool:
    on, _seconds = struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
    return bool(on)


def test_a_listener_is_seen_to_close() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        [found] = [found for found in listeners() if found.port == port]
        assert found.is_open()
    assert not found.is_open(), "closed: the server's stop has begun"
    # Another socket given the same descriptor number is not the listener.
    with socket.socket() as other:
        copied = other.fileno() != found.fd  # the number is often reused at once
        if copied:
            os.dup2(other.fileno(), found.fd)
        try:
            assert not found.is_open()
        finally:
            if copied:
                os.close(found.fd)


def test_a_scan_leaves_other_sockets_blocking(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    """With a default timeout set, each duplicate the scan wraps turned its socket (and so the
    owner's, which shares the flag) non-blocking: the owner's next blocking call got EAGAIN."""
    client, server = connection
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(5)
    try:
        listeners()
        assert reset_clients(set()) == 0
    finally:
        socket.setdefaulttimeout(previous)
    assert os.get_blocking(client.fileno()) and os.get_blocking(server.fileno())


def test_a_unix_socket_server_address_is_no_address() -> None:
    assert not reset_connection(("127.0.0.1", 1), ("/run/app.sock", None))
