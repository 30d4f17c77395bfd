"""Outbound requests to addresses a clinic types in: review pages and webhooks.

Checking a name before the request is not enough: the request resolves the name again,
and a name whose owner controls its DNS can answer with a public address to the check and
with ``127.0.0.1`` to the request (DNS rebinding). ``public_only_transport`` closes that
gap: it resolves the name once, when the connection is opened, refuses it if any address
is private, and connects to the very address it checked. TLS still verifies the
certificate against the name.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Iterable

import httpcore
import httpx


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    # Only globally routable addresses: this also refuses shared carrier space (100.64.0.0/10, where
    # some clouds keep their metadata service), documentation and benchmarking ranges.
    return not address.is_global or address.is_multicast


def _resolve(host: str, port: int | None = None) -> list[tuple[int, str]]:
    """(family, address) pairs for a host name or literal, in the resolver's order."""
    literal = host.strip("[]")
    try:
        ip = ipaddress.ip_address(literal)
    except ValueError:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [(info[0], info[4][0].split("%")[0]) for info in infos]
    return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, literal)]


def is_private_host(host: str) -> bool:
    """True when the host is, or resolves to, a loopback, private, link-local or reserved address.

    A clinic must not be able to point the servers at the platform's own network.
    """
    try:
        resolved = _resolve(host)
    except (socket.gaierror, UnicodeError, OSError):
        return False  # unresolvable: the request itself will fail with a clear error
    return any(_is_private(ipaddress.ip_address(address)) for _, address in resolved)


class PrivateAddressRefused(httpcore.ConnectError):
    """The name resolved, at connection time, to an address the service does not call."""


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Opens TCP connections only to public addresses, pinned to the address that was checked."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        try:
            resolved = _resolve(host, port)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not resolved:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        if any(_is_private(ipaddress.ip_address(address)) for _, address in resolved):
            raise PrivateAddressRefused(f"{host} resolves to a private or local address")
        last_error: Exception | None = None
        for _, address in resolved:
            try:
                return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                           socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error  # type: ignore[misc]


def public_only_transport(**options) -> httpx.HTTPTransport:
    """An httpx transport that refuses, when it connects, any name resolving to a private address.

    ``options`` are ``httpx.HTTPTransport``'s (limits, retries, …). httpx has no public
    setting for the network backend, so ours is set on the transport's pool;
    ``tests/test_net.py`` fails if a new httpx stops honouring it.
    """
    transport = httpx.HTTPTransport(**options)
    transport._pool._network_backend = _PublicOnlyBackend()
    return transport


def refused_as_private(exc: BaseException) -> bool:
    """True when an httpx error was raised because the address was private (see ``public_only_transport``)."""
    while exc is not None:
        if isinstance(exc, PrivateAddressRefused):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
