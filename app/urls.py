"""Splitting addresses that come from users and from scraped pages."""
from __future__ import annotations

from urllib.parse import SplitResult, urljoin, urlsplit


def split_url(url: str) -> SplitResult | None:
    """``urlsplit`` that gives None for an address it cannot parse instead of raising.

    ``urlsplit`` raises ValueError for unbalanced IPv6 brackets ("http://[") and ``.port``
    for a port that is not a number in 0-65535; both arrive in forms and in scraped links.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        return None
    return parts


def join_url(base: str, link: str) -> str | None:
    """``urljoin`` that gives None for a link it cannot parse instead of raising."""
    try:
        return urljoin(base, link)
    except ValueError:
        return None


def hostname_of(url: str) -> str:
    """The lower-case host of an address, or "" when it has none or cannot be parsed."""
    parts = split_url(url)
    return (parts.hostname or "") if parts is not None else ""
