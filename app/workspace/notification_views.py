"""Each member's own notification preferences, the record of digests sent and a preview of the next."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.audit import log_access
from app.digest import LANGUAGES, preview_next_digest
from app.extensions import db
from app.models import DigestRun, MailOutbox
from app.parsing import whole_number
from app.workspace.base import bp
from tenants.resolve import current_tenant, get_or_404

HOURS = list(range(24))
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}  # each in its own language, as language switches are


def parse_notification_form(form) -> tuple[dict, dict]:
    """Validated preference values from a submitted form, and errors by field (plain, no request)."""
    values = {name: form.get(name) == "on" for name in ("digest_enabled", "digest_when_quiet", "alerts_enabled")}
    errors = {}
    hours = {}
    for name in ("quiet_hours_start", "quiet_hours_end"):
        raw = (form.get(name) or "").strip()
        hour = whole_number(raw, maximum=23)
        if raw == "":
            hours[name] = None
        elif hour is not None:
            hours[name] = hour
        else:
            errors[name] = _("an hour from 0 to 23, or empty")
    if not errors and (hours["quiet_hours_start"] is None) != (hours["quiet_hours_end"] is None):
        errors["quiet_hours_end"] = _("set both the start and the end of quiet hours, or neither")
    if not errors and hours["quiet_hours_start"] is not None and hours["quiet_hours_start"] == hours["quiet_hours_end"]:
        errors["quiet_hours_end"] = _("the end must differ from the start")
    values.update(hours)
    return values, errors


@bp.route("/settings/notifications", methods=["GET", "POST"])
def notification_settings():
    membership = current_user.membership
    if request.method == "POST":
        values, errors = parse_notification_form(request.form)
        if errors:
            return render_template("workspace/settings_notifications.html", membership=membership, hours=HOURS,
                                   errors=errors, form=request.form), 400
        for name, value in values.items():
            setattr(membership, name, value)
        db.session.commit()
        flash(_("Notification settings saved."))
        return redirect(url_for("workspace.notification_settings"))
    return render_template("workspace/settings_notifications.html", membership=membership, hours=HOURS,
                           errors={}, form=None)


def _require_digest_reader() -> None:
    if current_user.role not in ("owner", "manager"):
        abort(403)


@bp.get("/digests")
def digests():
    _require_digest_reader()
    runs = db.session.scalars(select(DigestRun).order_by(DigestRun.local_date.desc()).limit(60)).all()
    messages = {}
    if runs:
        rows = db.session.execute(
            select(MailOutbox.id, MailOutbox.digest_run_id, MailOutbox.recipient, MailOutbox.status,
                   MailOutbox.attempts, MailOutbox.sent_at, MailOutbox.last_error)
            .where(MailOutbox.digest_run_id.in_([r.id for r in runs])).order_by(MailOutbox.id)).all()
        for row in rows:
            messages.setdefault(row.digest_run_id, []).append(row)
    return render_template("workspace/digests.html", runs=runs, messages=messages)


def _preview(language: str, *, shows_body: bool):
    """The next digest as the current member would receive it; a body shown with contacts is logged."""
    preview = preview_next_digest(current_tenant(), language, current_user.can("see_contacts"))
    if shows_body and preview.with_contacts:
        log_access(current_user.user.id, "view_contacts", "digest_preview", preview.local_date.isoformat())
        db.session.commit()
    return preview


def _preview_language() -> str:
    """``?lang=`` when it is a digest language, else the reader's own."""
    for language in (request.args.get("lang"), str(get_locale())):
        if language in LANGUAGES:
            return language
    return "ru"


@bp.get("/digests/preview")
def digest_preview():
    _require_digest_reader()
    language = _preview_language()
    as_text = request.args.get("part") == "text"  # else the formatted mail, in a frame of its own
    tabs = [(LANGUAGE_NAMES[code], url_for("workspace.digest_preview", lang=code, part="text" if as_text else None),
             code == language, code) for code in LANGUAGES]
    tabs.append(_part_tab(as_text, "workspace.digest_preview", lang=language))
    return render_template("workspace/digest_preview.html", preview=_preview(language, shows_body=as_text),
                           language=language, as_text=as_text, tabs=tabs)


def _part_tab(as_text: bool, endpoint: str, **args) -> tuple:
    """The tab that switches between the formatted mail and its plain-text part."""
    if as_text:
        return _("As formatted mail"), url_for(endpoint, **args), False, None
    return _("Plain-text part"), url_for(endpoint, **args, part="text"), False, None


def _mail_for_frame(html: str):
    """A mail's HTML for the workspace's sandboxed frame: its inline styles allowed, nothing else.

    Links open in a new tab: the workspace refuses to be framed, even by itself.
    """
    response = make_response(html.replace("<head>", '<head><base target="_blank">', 1))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/digests/preview/mail")
def digest_preview_mail():
    """The next digest's HTML part alone, for the preview page's frame."""
    _require_digest_reader()
    return _mail_for_frame(_preview(_preview_language(), shows_body=True).html)


def _sent_digest(message_id: int) -> MailOutbox:
    """One digest message of the current clinic (an alert or another clinic's message is not found)."""
    _require_digest_reader()
    message = get_or_404(MailOutbox, message_id)
    if message.kind != "digest":
        abort(404)
    return message


def _log_body_seen(message: MailOutbox) -> None:
    if message.with_contacts:
        log_access(current_user.user.id, "view_contacts", "digest_message", message.id)
        db.session.commit()


@bp.get("/digests/messages/<int:message_id>")
def digest_message(message_id: int):
    """A digest as it went to one member: its status, and the mail formatted or as plain text."""
    message = _sent_digest(message_id)
    as_text = request.args.get("part") == "text" or not message.html_body  # a mail sent as plain text only
    if as_text:
        _log_body_seen(message)
    tabs = [_part_tab(as_text, "workspace.digest_message", message_id=message.id)] if message.html_body else []
    return render_template("workspace/digest_message.html", message=message,
                           run=db.session.get(DigestRun, message.digest_run_id), as_text=as_text, tabs=tabs)


@bp.get("/digests/messages/<int:message_id>/mail")
def digest_message_mail(message_id: int):
    message = _sent_digest(message_id)
    _log_body_seen(message)
    return _mail_for_frame(message.html_body)
