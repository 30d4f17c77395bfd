"""Page-or-fragment rendering for htmx, template helpers and security headers."""
from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlsplit

from babel.dates import format_datetime
from flask import Flask, g, make_response, redirect, render_template, request
from flask_babel import get_locale, get_timezone

# Scripts and styles come only from our own static files; the few pages that carry their
# own <style> (the QR poster and the printable report) mark it with this request's nonce.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'{nonce}; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'{frames}")


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


def leave_for(url: str, htmx_status: int = 401):
    """Send the browser to ``url``: a redirect, or for an htmx request an ``HX-Redirect``.

    htmx follows a plain redirect itself and would paste the page it leads to (the login page,
    when a session has ended) into the fragment it was loading.
    """
    if request.headers.get("HX-Request") == "true":
        response = make_response("", htmx_status)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def page_path() -> str:
    """The path and query of the page the person is on: for htmx, the page, not the fragment."""
    current = request.headers.get("HX-Current-URL") if request.headers.get("HX-Request") == "true" else None
    if current:
        parts = urlsplit(current)
        if parts.netloc == request.host and parts.path.startswith("/"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.full_path.rstrip("?")


def csp_nonce() -> str:
    """This request's nonce for an inline <style> element (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _aspect_labels() -> dict[str, str]:
    # Read once a request: a journal page shows dozens of ratings.
    if "rating_aspect_labels" not in g:
        from flask_babel import get_locale

        from app.questionnaires import rating_aspect_labels

        g.rating_aspect_labels = rating_aspect_labels(str(get_locale())) if g.get("tenant") is not None else {}
    return g.rating_aspect_labels


def rating_aspect(aspect: str) -> str:
    """A rated aspect as the clinic's questionnaire names it in the reader's language."""
    return _aspect_labels().get(aspect, aspect)


def in_questionnaire_order(items) -> list:
    """Ratings (with ``.aspect``) or ``(aspect, value)`` pairs in the order the questionnaire asks
    the aspects; aspects no questionnaire asks any more come last."""
    order = {aspect: index for index, aspect in enumerate(_aspect_labels())}

    def aspect_of(item):
        return item.aspect if hasattr(item, "aspect") else item[0]

    return sorted(items, key=lambda item: (order.get(aspect_of(item), len(order)), aspect_of(item)))


def local_datetime(value: datetime | None, fmt: str = "medium") -> str:
    """A moment in the page's time zone and language; English in the day-first, 24-hour style.

    Clinics read "04/11/26, 9:15 PM" as the 4th of November, so English pages say
    "04/11/2026, 21:15", as in Britain, and never the American month-first date.
    """
    if not value:
        return ""
    locale = get_locale()
    if locale is not None and locale.language == "en":
        locale = "en_GB"
    return format_datetime(value, fmt, tzinfo=get_timezone(), locale=locale)


def elapsed_hours(hours: float | None) -> str:
    """A span of time as a manager reads it: "under an hour", "9 h", "3.5 days"."""
    from flask_babel import gettext

    if hours is None:
        return "—"
    if hours < 1:
        return gettext("under an hour")
    if hours < 48:
        return gettext("%(n)s h", n=round(hours))
    return gettext("%(n)s days", n=f"{hours / 24:.1f}")


def register(app: Flask) -> None:
    """Template globals and security headers."""
    app.jinja_env.globals.update(current_locale=lambda: str(get_locale()),
                                 has_endpoint=lambda name: name in app.view_functions, csp_nonce=csp_nonce)
    from app.i18n import term, translate

    app.jinja_env.filters["term"] = term
    app.jinja_env.filters["translate"] = translate
    app.jinja_env.filters["local_dt"] = local_datetime
    app.jinja_env.filters["hours"] = elapsed_hours
    app.jinja_env.filters["rating_aspect"] = rating_aspect
    app.jinja_env.filters["in_questionnaire_order"] = in_questionnaire_order
    from app.publishing import publish_consent_wording
    from app.reputation.service import site_title

    # A review site's name, in pages and in the digest's mail alike.
    app.jinja_env.filters["site_title"] = site_title

    # The publishing consent's words as the patient read them: {{ version|publish_wording(language) }}.
    app.jinja_env.filters["publish_wording"] = lambda version, language: \
        publish_consent_wording(language, version) or ""

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # No page needs the camera, microphone, location or payments; a script that got in can't ask.
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        if app.config.get("SESSION_COOKIE_SECURE"):  # served over HTTPS (BASE_URL): browsers stay on it
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        framed = getattr(response, "allow_framing", False)  # the reviews widget is made to be framed
        if not framed:
            response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            nonce = g.get("csp_nonce")
            response.headers.setdefault("Content-Security-Policy", _CSP.format(
                nonce=f" 'nonce-{nonce}'" if nonce else "",
                frames="; frame-ancestors *" if framed else "; frame-ancestors 'none'"))
        return response
