"""Clear error pages: every bad request gets a 4xx with words, never a 500 page of code."""
from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from app.access_log import redact


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    """Install handlers for HTTP errors and CSRF failures."""

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        message = _("The form has expired or was sent from elsewhere. Reload the page and try again.")
        return _error_page(400, message)

    @app.errorhandler(IntegrityError)
    def _conflict(exc: IntegrityError):
        # Forms check uniqueness first; this is the race where two requests pass that check at once.
        from app.extensions import db

        db.session.rollback()
        app.logger.warning("write refused by a database constraint on %s %s", request.method, redact(request.path))
        return _error_page(409, _("This was changed at the same moment by another request. "
                                  "Reload the page and try again."))

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError):
        # The database is down or unreachable: say so and when to retry, rather than a bare 500.
        from app.extensions import db

        try:
            db.session.rollback()
        except OperationalError:
            pass  # the connection is gone; the pool replaces it
        # The path may hold a secret link (a patient's status page, an invitation): logged redacted.
        app.logger.error("database unavailable on %s %s: %s", request.method, redact(request.path),
                         type(exc.orig).__name__ if exc.orig is not None else "OperationalError")
        body, code = _error_page(503, _("The service is briefly unavailable and nothing was saved. "
                                        "Go back and send it again in a minute."))
        return body, code, {"Retry-After": "30"}

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        # Keep what the exception says about itself, such as the Allow header of a 405 (RFC 9110).
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        code = exc.code or 500
        if code >= 500:
            return (*_error_page(code, None), headers)
        # Werkzeug's own wording is English; a description given with abort() is ours and stays.
        default = exc.description == type(exc).description
        return (*_error_page(code, _default_message(code) if default else exc.description), headers)


def _default_message(code: int) -> str | None:
    if request.path.startswith("/api/"):
        return {
            404: "There is no such endpoint; the API is described at /api/v1/openapi.json.",
            405: "This endpoint does not accept this method; the Allow header lists those it does.",
        }.get(code) or _page_message(code)
    return _page_message(code)


def _page_message(code: int) -> str | None:
    return {
        400: _("The request could not be understood. Check the address or the form and try again."),
        403: _("You do not have access to this page."),
        404: _("There is no such page here. Check the address, or go back and follow a link."),
        405: _("This address does not accept this kind of request."),
        413: _("What was sent is too large."),
        429: _("Too many requests in a short time. Wait a minute and try again."),
    }.get(code)


# The API's error codes; its messages are English (i18n.select_locale), for programs and their logs.
API_ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                   409: "conflict", 413: "too_large", 429: "rate_limited", 503: "unavailable"}


def _error_page(code: int, message: str | None):
    if request.path.startswith("/api/"):
        return {"error": API_ERROR_CODES.get(code, "server_error"),
                "message": message or "Something went wrong on our side; try again later."}, code
    titles = {
        400: _("Bad request"), 403: _("Not allowed"), 404: _("Not found"), 405: _("Method not allowed"),
        409: _("Conflict"), 413: _("Too large"), 429: _("Too many requests"), 503: _("Briefly unavailable"),
    }
    title = titles.get(code, _("Something went wrong"))
    if _wants_json():
        return {"error": title, "message": message}, code
    return render_template("error.html", code=code, title=title, message=message), code
