"""Addresses: free ports for servers we start, and client addresses against configured
networks (trusted proxies, metrics scrapers)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bind_error(host: str, port: int) -> int | None:
    """Why a server could not listen on `host:port` (an errno: EADDRINUSE, EADDRNOTAVAIL,
    EACCES...), or None when it could.

    Binds as servers do (SO_REUSEADDR), so a port a stopped server left in TIME_WAIT is free.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno
    return None


def port_listener(port: int) -> int | None:
    """The PID of the process listening on `port` (any address), when this user may see it."""
    import psutil  # psutil: only when a port is taken

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for connection in connections:
        address = connection.laddr
        if connection.status == psutil.CONN_LISTEN and address and address.port == port:
            return int(connection.pid) if connection.pid is not None else None
    return None


def parse_networks(
    entries: Iterable[str], *, on_invalid: Callable[[str], None] | None = None
) -> list[Network]:
    """CIDRs (or single addresses) to networks; an invalid entry raises unless `on_invalid`."""
    networks: list[Network] = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if on_invalid is None:
                raise
            on_invalid(entry)
    return networks


def plain_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address, an IPv4 address mapped into IPv6 written as IPv4; None for
    anything else (a name, a Unix socket's path)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(host: str | None, networks: Iterable[Network]) -> bool:
    """True when `host` is an address inside one of `networks` (IPv4-mapped IPv6 unwrapped)."""
    address = plain_address(host) if host else None
    if address is None:
        return False
    return any(address.version == n.version and address in n for n in networks)


def host_name(host_header: str | None) -> str:
    """The name in a Host header, lower case, without its port or an IPv6 literal's brackets."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_loopback_host(host_header: str | None) -> bool:
    """True when a Host header names this machine: localhost, *.localhost, 127.0.0.0/8, ::1.

    A page on another site that re-points its own name at 127.0.0.1 (DNS rebinding) still
    sends its own name as Host, so this tells the developer's browser from such a page.
    """
    name = host_name(host_header).rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """`host` matches one of ALLOWED_HOSTS' patterns (`*`, `example.com`, `*.example.com`),
    as Starlette's host check matches them."""
    host = host.lower()
    for pattern in (p.lower() for p in patterns):
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def network_of(host: str) -> str:
    """The client's network: /64 for IPv6, /32 for IPv4 (an IPv4-mapped address is IPv4).
    Caps count per network, since one IPv6 client holds a whole /64."""
    address = plain_address(host)
    if address is None:
        return host
    prefix = 64 if address.version == 6 else 32
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
