"""``flask digest preview|send``: see a clinic's digest, or send it now."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import DigestRun, MailOutbox, Tenant

digest_cli = AppGroup("digest", help="The daily risk digest: preview it or send it now.")


def _tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"no clinic with slug {slug!r}")
    return tenant


@digest_cli.command("preview")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
@click.option("--date", "day", default=None, help="Local date YYYY-MM-DD (default: today in the clinic).")
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None, help="Language (default: the clinic's).")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the plain text.")
@click.option("--with-contacts", is_flag=True, help="Show patients' contacts, as managers and owners see them.")
def preview(slug: str, day: str | None, lang: str | None, as_html: bool, with_contacts: bool) -> None:
    """Print the digest that would be sent, without sending or recording anything.

    Without ``--date``, the next digest as it stands now (as the workspace's preview shows it).
    """
    from app.digest import preview_digest_of, preview_next_digest
    from tenants.context import tenant_scope

    tenant = _tenant(slug)
    try:
        local_date = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from None
    language = lang or tenant.language
    with tenant_scope(tenant.id):
        if local_date is None:
            shown = preview_next_digest(tenant, language, with_contacts)
        else:
            shown = preview_digest_of(tenant, local_date, language, with_contacts)
        db.session.rollback()
    zone = ZoneInfo(tenant.timezone)
    click.echo(f"Subject: {shown.subject}")
    click.echo(f"Goes out: {shown.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M} ({tenant.timezone})")
    click.echo(f"Covers: {shown.period_start.astimezone(zone):%Y-%m-%d %H:%M} – "
               f"{shown.period_end.astimezone(zone):%Y-%m-%d %H:%M}")
    click.echo(f"Recipients: {shown.recipients} of {shown.subscribed} subscribed members")
    click.echo("")
    click.echo(shown.html if as_html else shown.text)


@digest_cli.command("send")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
def send(slug: str) -> None:
    """Send today's digest now (once per local date: refused if it was already sent)."""
    from app.digest import build_digest_run
    from app.digest_schedule import claim_manual_digest
    from app.notifications import clinic_sends_notifications, deliver_outbox_message
    from tenants.context import tenant_scope

    tenant = _tenant(slug)
    with tenant_scope(tenant.id):
        if not clinic_sends_notifications(tenant):
            raise click.ClickException("this clinic's licence is suspended: it receives no e-mail")
        db.session.rollback()
    claim = claim_manual_digest(tenant)
    if claim is None:
        raise click.ClickException("today's digest for this clinic was already sent (see /c/%s/digests)" % slug)
    with tenant_scope(tenant.id):
        run = db.session.get(DigestRun, claim.run_id)
        outbox_ids = build_digest_run(run)
        failures = 0
        for outbox_id in outbox_ids:
            result = deliver_outbox_message(outbox_id)
            row = db.session.get(MailOutbox, outbox_id)
            click.echo(f"{row.recipient}: {result.outcome}{' — ' + result.error if result.error else ''}")
            failures += result.outcome not in ("sent", "already_sent")
        if not outbox_ids:
            click.echo(f"nothing to send: {run.note}")
    click.echo(f"digest for {claim.local_date.isoformat()}: {len(outbox_ids)} message(s), {failures} to retry")
