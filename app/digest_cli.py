"""``flask digest preview|send``: see a clinic's digest, or send it now."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.models import DigestRun, MailOutbox, Tenant, utcnow

digest_cli = AppGroup("digest", help="The daily risk digest: preview it or send it now.")


def _tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"no clinic with slug {slug!r}")
    return tenant


def preview_period(tenant: Tenant, local_date: date, now: datetime) -> tuple[datetime, datetime]:
    """What the digest for ``local_date`` covers: from the previous digest to its hour (or now, if earlier)."""
    from app.digest_schedule import digest_hour, scheduled_instant

    scheduled = scheduled_instant(local_date, tenant.timezone, digest_hour(tenant.settings))
    end = min(scheduled, now) if local_date < now.astimezone(ZoneInfo(tenant.timezone)).date() else now
    start = db.session.scalar(select(func.max(DigestRun.period_end)).where(DigestRun.local_date < local_date))
    return (start if start is not None and start < end else end - timedelta(days=1)), end


@digest_cli.command("preview")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
@click.option("--date", "day", default=None, help="Local date YYYY-MM-DD (default: today in the clinic).")
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None, help="Language (default: the clinic's).")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the plain text.")
@click.option("--with-contacts", is_flag=True, help="Show patients' contacts, as managers and owners see them.")
def preview(slug: str, day: str | None, lang: str | None, as_html: bool, with_contacts: bool) -> None:
    """Print the digest that would be sent, without sending or recording anything."""
    from app.digest import collect_digest, digest_recipients, render_digest
    from tenants.context import tenant_scope

    tenant = _tenant(slug)
    now = utcnow()
    try:
        local_date = date.fromisoformat(day) if day else now.astimezone(ZoneInfo(tenant.timezone)).date()
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from None
    with tenant_scope(tenant.id):
        start, end = preview_period(tenant, local_date, now)
        content = collect_digest(tenant, start, end, local_date=local_date.isoformat())
        recipients = digest_recipients(tenant)
        subject, text, html = render_digest(content, lang or tenant.language, with_contacts)
        db.session.rollback()
    wanted = [r for r in recipients if r.when_quiet or not content.quiet]
    click.echo(f"Subject: {subject}")
    click.echo(f"Recipients: {len(wanted)} of {len(recipients)} subscribed members")
    click.echo("")
    click.echo(html if as_html else text)


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
