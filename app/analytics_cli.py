"""`flask visits import ...` and `flask metrics recompute|show ...`."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import Tenant
from tenants.context import tenant_scope

visits_cli = AppGroup("visits", help="Visits from the clinic's CRM/MIS.")
metrics_cli = AppGroup("metrics", help="Loyalty metric snapshots.")


def _tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"no clinic with slug {slug!r}")
    return tenant


def _parse_maps(pairs: tuple[str, ...]) -> dict[str, str]:
    from app.visits_import import FIELDS

    mapping = {}
    for pair in pairs:
        column, sep, name = pair.rpartition("=")
        if not sep or not column or name not in FIELDS:
            raise click.BadParameter(f"{pair!r}: use COLUMN=FIELD with FIELD one of {', '.join(FIELDS)}",
                                     param_hint="--map")
        mapping[name] = column
    return mapping


@visits_cli.command("import")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD",
              help="Map a column to a field (patient, visited_on, branch, doctor, service, amount, gender, "
                   "birth_year, district, first_visit, bonuses_awarded, bonuses_redeemed). Repeatable.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of a CSV file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_visits(slug: str, file: Path, maps: tuple[str, ...], encoding: str, as_json: bool) -> None:
    """Import visits from a CSV or XLSX FILE, all or nothing; re-importing changes nothing."""
    from app.analytics.refresh import full_recompute
    from app.visits_import import ImportFileError, create_import, run_import
    from tenants.resolve import clinic_local_now

    mapping = _parse_maps(maps)
    tenant = _tenant(slug)
    with tenant_scope(tenant.id):
        try:
            visit_import = create_import(file.name, file.read_bytes(), encoding, "cli", mapping)
        except ImportFileError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        import_id = visit_import.id
        report = run_import(visit_import, clinic_local_now(tenant).date(), track_progress=False)
        if report.ok and report.imported:
            full_recompute(db.session.get(Tenant, tenant.id))
    summary = {"import_id": import_id, "ok": report.ok, "rows": report.total_rows,
               "imported": report.imported if report.ok else 0, "duplicates": report.duplicates if report.ok else 0,
               "errors": [e.to_json() for e in report.errors], "error_count": report.error_count}
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    elif report.ok:
        click.echo(f"Imported {summary['imported']} visits of {report.total_rows} rows "
                   f"({summary['duplicates']} already known).")
    else:
        for error in report.errors:
            click.echo(f"line {error.line}: {error.field}: {error.message}"
                       + (f" ({error.value!r})" if error.value else ""), err=True)
    if not report.ok:
        if as_json:
            raise SystemExit(1)
        raise click.ClickException(f"Nothing imported: {report.error_count} problem(s) in {file.name}.")


@metrics_cli.command("recompute")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
def recompute(slug: str) -> None:
    """Recompute every metric snapshot of a clinic now."""
    from app.analytics.refresh import full_recompute

    tenant = _tenant(slug)
    with tenant_scope(tenant.id):
        count = full_recompute(db.session.get(Tenant, tenant.id))
    click.echo(f"Recomputed {count} periods for {slug}.")


@metrics_cli.command("show")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
@click.option("--period", "period_text", default=None,
              help="YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD (default: the current month).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(slug: str, period_text: str | None, as_json: bool) -> None:
    """Print a clinic's overview for a period, read from the snapshots."""
    from app.analytics.read import overview_json
    from app.metrics import Period, reportable
    from tenants.resolve import clinic_local_now

    tenant = _tenant(slug)
    try:
        period = Period.parse(period_text) if period_text else Period.containing(
            clinic_local_now(tenant).date(), "month")
    except (ValueError, OverflowError) as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    if not reportable(period):
        raise click.BadParameter("at most five years, between 1990 and 2999", param_hint="--period")
    with tenant_scope(tenant.id):
        data = overview_json(db.session.get(Tenant, tenant.id), period)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True))
        return
    for key in ("period", "responses", "nps", "csat_overall", "loyalty_index", "patients", "retention_rate",
                "churn", "inflow", "revenue_per_patient", "ltv"):
        click.echo(f"{key:22} {data[key]}")
