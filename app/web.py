"""Page-or-fragment rendering for htmx, and template helpers."""
from __future__ import annotations

from flask import Flask, make_response, render_template, request


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """Render the full page, or only ``fragment`` for an htmx request.

    A history-restore request gets the full page, and responses vary on HX-Request
    so caches never hand a fragment to a full page load.
    """
    wants_fragment = fragment and request.headers.get("HX-Request") == "true" and \
        request.headers.get("HX-History-Restore-Request") != "true"
    body = render_template(fragment if wants_fragment else page, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def register(app: Flask) -> None:
    """Template globals and security headers."""
    from flask_babel import format_datetime, get_locale

    app.jinja_env.globals.update(current_locale=lambda: str(get_locale()),
                                 has_endpoint=lambda name: name in app.view_functions)
    from app.i18n import term, translate

    app.jinja_env.filters["term"] = term
    app.jinja_env.filters["translate"] = translate
    app.jinja_env.filters["local_dt"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not getattr(response, "allow_framing", False):  # the reviews widget is made to be framed
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
