"""Outbound requests to addresses a clinic types in: review pages and webhooks."""
from __future__ import annotations

import ipaddress
import socket


def is_private_host(host: str) -> bool:
    """True when the host is, or resolves to, a loopback, private, link-local or reserved address.

    A clinic must not be able to point the servers at the platform's own network.
    """
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError, OSError):
            return False  # unresolvable: the request itself will fail with a clear error
        addresses = set()
        for info in infos:
            try:
                addresses.add(ipaddress.ip_address(info[4][0].split("%")[0]))
            except ValueError:
                continue
    return any(
        a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast or a.is_unspecified
        for a in addresses
    )
