"""The clinic's pages on public review sites, offered to every patient after a response.

Every patient sees the same links whatever they answered: asking only happy
patients for public reviews (review gating) misleads readers and breaks the
sites' rules.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.urls import split_url
from tenants.settings import update_settings

MAX_LINKS = 10


class ReviewLinkError(ValueError):
    """A review link that cannot be saved; the message says why."""


def clean_review_links(rows: list[tuple[str, str]]) -> list[dict]:
    """Check ``(name, url)`` pairs: https URLs with a host, a name each; blank rows are skipped."""
    links = []
    for name, url in rows:
        name, url = (name or "").strip()[:100], (url or "").strip()[:500]
        if not name and not url:
            continue
        if not name:
            raise ReviewLinkError(_l("Give the link %(url)s a name.", url=url))
        parts = split_url(url)
        if parts is None or parts.scheme != "https" or not parts.hostname or "." not in parts.hostname \
                or any(c.isspace() for c in url):
            raise ReviewLinkError(_l("%(name)s: the address must be a full https:// link.", name=name))
        links.append({"name": name, "url": url})
    if len(links) > MAX_LINKS:
        raise ReviewLinkError(_l("At most %(n)s review sites.", n=MAX_LINKS))
    return links


def save_review_links(tenant, rows: list[tuple[str, str]]) -> list[dict]:
    """Validate and store the clinic's review links (replacing the old list)."""
    links = clean_review_links(rows)
    update_settings(tenant, review_links=links)
    return links
