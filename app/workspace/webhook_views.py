"""Settings → Webhooks: where the clinic's events are sent, a test send, and the latest deliveries."""
from __future__ import annotations

from flask import abort, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import webhooks
from app.extensions import db
from app.models import Webhook
from app.workspace.base import bp, requires
from jobs.outbox import flush_outbox
from sqlalchemy import select
from tenants.licensing import has_module
from tenants.resolve import current_licence_status, get_or_404


def _page(code: int = 200, *, created: Webhook | None = None, error: str | None = None, form=None):
    current_licence_status()  # loads the licence into g
    hooks = db.session.scalars(select(Webhook).order_by(Webhook.id)).all()
    page = make_response(render_template(
        "workspace/settings_webhooks.html", hooks=hooks, events=webhooks.EVENTS, created=created, error=error,
        form=form, licensed=has_module(g.get("licence"), webhooks.MODULE), deliveries=webhooks.recent_deliveries(),
        allow_http=current_app.config.get("WEBHOOK_ALLOW_PRIVATE")), code)
    if created is not None:
        page.headers["Cache-Control"] = "no-store"  # the signing secret is shown once
    return page


@bp.get("/settings/webhooks")
@requires("manage_clinic")
def webhook_settings():
    return _page()


@bp.post("/settings/webhooks")
@requires("manage_clinic")
def create_webhook():
    current_licence_status()  # loads the licence into g
    if not has_module(g.get("licence"), webhooks.MODULE):
        return _page(403, error=_("The clinic's licence does not include the API and webhooks."))
    try:
        hook = webhooks.create_webhook((request.form.get("url") or "")[:webhooks.MAX_URL + 1],
                                       request.form.getlist("events"), current_user.user.id)
    except webhooks.WebhookError as exc:
        db.session.rollback()
        return _page(400, error=str(exc), form=request.form)
    db.session.commit()
    return _page(201, created=hook)


@bp.post("/settings/webhooks/<int:webhook_id>")
@requires("manage_clinic")
def change_webhook(webhook_id: int):
    hook = get_or_404(Webhook, webhook_id)
    action = request.form.get("action")
    if action not in ("test", "pause", "resume", "delete"):
        abort(400, description=_("Unknown action."))
    jobs = []
    if action == "test":
        jobs = webhooks.send_test(hook)
        message = _("A test event is on its way; its delivery appears below.") if jobs else \
            _("Nothing was sent: the webhook is paused, or the licence does not include webhooks.")
    elif action in ("pause", "resume"):
        webhooks.set_active(hook, action == "resume")
        message = _("The webhook receives events again.") if action == "resume" else _("The webhook is paused.")
    else:
        db.session.delete(hook)
        message = _("The webhook was deleted; nothing more is sent to it.")
    db.session.commit()
    flush_outbox(jobs)
    flash(message)
    return redirect(url_for("workspace.webhook_settings"))
