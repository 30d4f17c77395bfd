"""Language and time-zone selection for pages."""
from __future__ import annotations

from flask import current_app, g, request, session
from flask_login import current_user


def select_locale() -> str:
    """The user's saved choice, then the session's, then the browser's, then the clinic's."""
    languages = current_app.config["LANGUAGES"]
    user = getattr(current_user, "user", None) if current_user else None
    if user is not None and user.language in languages:
        return user.language
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    best = request.accept_languages.best_match(languages) if request else None
    if best:
        return best
    tenant = g.get("tenant")
    return tenant.language if tenant is not None else current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Times are shown in the clinic's zone inside a clinic, UTC elsewhere."""
    tenant = g.get("tenant")
    return tenant.timezone if tenant is not None else "UTC"
