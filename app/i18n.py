"""Language and time-zone selection for pages."""
from __future__ import annotations

from flask import current_app, g, has_request_context, request, session
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_login import current_user


def select_locale() -> str:
    """The user's saved choice, then the session's, then the browser's, then the clinic's."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context() or request.path.startswith("/api/"):
        return "en"  # command-line output, and the API, whose readers are programs and their logs
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


# Words stored as codes (states, roles, modules) and shown translated via the |term filter.
TERMS = {
    "active": _l("active"), "grace": _l("grace period"), "read_only": _l("read-only"),
    "suspended": _l("suspended"), "not_started": _l("not started"),
    "owner": _l("owner"), "manager": _l("manager"), "viewer": _l("viewer"),
    "reputation": _l("web reputation"), "loyalty_programme": _l("loyalty programme"), "api": _l("API"),
    # Visit imports.
    "mapping": _lp("import status", "columns to map"), "queued": _lp("import status", "queued"),
    "running": _lp("import status", "importing"), "done": _lp("import status", "done"),
    "failed": _lp("import status", "failed"),
    # Daily digests and their e-mails.
    "claimed": _lp("digest status", "being prepared"), "built": _lp("digest status", "prepared"),
    "pending": _lp("mail status", "waiting"), "sending": _lp("mail status", "sending"),
    "sent": _lp("mail status", "sent"), "cancelled": _lp("mail status", "cancelled"),
    # Kinds of loyalty programme (app.metrics.programme.ProgrammeType).
    "discount_tiers": _lp("loyalty programme", "discount tiers"), "points": _lp("loyalty programme", "points"),
    "cashback": _lp("loyalty programme", "cashback"), "membership": _lp("loyalty programme", "membership"),
    # Licence plans (tenants.licensing.PLANS).
    "basic": _lp("plan", "Basic"), "standard": _lp("plan", "Standard"), "network": _lp("plan", "Network"),
}


def N_(message: str) -> str:
    """Mark an English message for the catalogue; it is stored as is and translated where it is shown."""
    return message


def translate(message: str, params: dict | None = None) -> str:
    """A stored English message (an ``N_`` msgid with ``%(name)s`` placeholders) in the reader's language."""
    from flask_babel import gettext

    return gettext(message, **(params or {})) if message else ""


def term(code) -> str:
    """Translated label for a stored code; unknown codes are shown as they are."""
    code = getattr(code, "value", code)
    return str(TERMS.get(code, code))
