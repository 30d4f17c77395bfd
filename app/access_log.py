"""Access logs without secrets: gunicorn's logger with capability links and query strings masked.

A patient's status link, an invitation, a password reset and a journal's live ticket are
secrets carried in the path: whoever reads them in a log could open the page. Query strings
can carry what a manager searched for in patients' comments. Both are masked in the request
line, the path and the referrer (a page under a secret link sends it as Referer for its CSS).
"""
from __future__ import annotations

import re

from gunicorn.glogging import Logger

_SECRET_SEGMENT = re.compile(r"(/(?:s|invite|password/reset|live)/)[^/?#\s]+")


def redact(uri: str | None) -> str | None:
    """``uri`` with secret path segments replaced by "…" and any query string by "?…"."""
    if not uri or uri == "-":
        return uri
    before_query, has_query, _ = uri.partition("?")
    return _SECRET_SEGMENT.sub(r"\1…", before_query) + ("?…" if has_query else "")


class RedactingLogger(Logger):
    """gunicorn's logger (``--logger-class app.access_log.RedactingLogger``) with ``redact`` applied."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = " ".join((environ.get("REQUEST_METHOD", "-"), redact(environ.get("RAW_URI", "")) or "",
                               environ.get("SERVER_PROTOCOL", "-")))
        atoms["U"] = redact(atoms.get("U"))
        atoms["q"] = "…" if atoms.get("q") else ""
        atoms["f"] = redact(atoms.get("f"))
        if "{referer}i" in atoms:
            atoms["{referer}i"] = redact(atoms["{referer}i"])
        return atoms
