"""API endpoints: who am I, the feedback, the metrics, and visits pushed from the clinic's CRM."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flask import g, request, send_file
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.api.base import api_error, bp, requires_scope
from app.api.payloads import response_json
from app.audit import log_access
from app.extensions import db
from app.models import Case, Response, VisitImport, utcnow
from app.parsing import whole_number
from tenants.resolve import clinic_local_now, current_licence_status, current_tenant

MAX_PAGE = 500
DEFAULT_PAGE = 100
MAX_VISITS = 1000
OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")


@bp.get("/openapi.json")
def openapi():
    """The API described for integrators' tools (OpenAPI 3.1); kept in step with the views by tests/test_api.py."""
    return send_file(OPENAPI_DOCUMENT, mimetype="application/json", max_age=3600)


@bp.get("/clinic")
def clinic():
    """The clinic this key belongs to, its licence and what the key may do: a first call to check a key."""
    tenant, status, licence = current_tenant(), current_licence_status(), g.get("licence")
    return {
        "clinic": {"slug": tenant.slug, "name": tenant.name, "timezone": tenant.timezone,
                   "language": tenant.language},
        "licence": {"state": status.state.value, "ends_on": licence.ends_on.isoformat() if licence else None,
                    "modules": list(licence.modules or []) if licence else []},
        "key": {"name": g.api_key.name, "scopes": list(g.api_key.scopes or [])},
    }


def _parse_since(text: str | None) -> datetime | None:
    """An ISO 8601 instant; without an offset it is read in the clinic's time zone."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=clinic_local_now().tzinfo)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 pushed past the calendar's end
        raise ValueError("'since' must be an ISO 8601 date or time, such as 2026-11-01 or "
                         "2026-11-01T09:00:00+03:00.") from None


@bp.get("/responses")
@requires_scope("read")
def responses():
    """Responses in the order they arrived, a page at a time: ``after`` is the last id of the previous page."""
    args = request.args
    after = whole_number(args.get("after", "0"), minimum=0)
    limit = whole_number(args.get("limit", str(DEFAULT_PAGE)), minimum=1, maximum=MAX_PAGE)
    if after is None:
        return api_error(400, "bad_parameter", "'after' must be a response id (a whole number).")
    if limit is None:
        return api_error(400, "bad_parameter", f"'limit' must be a whole number from 1 to {MAX_PAGE}.")
    try:
        since = _parse_since(args.get("since"))
    except ValueError as exc:
        return api_error(400, "bad_parameter", str(exc))
    query = (select(Response).where(Response.id > after)
             .options(selectinload(Response.ratings), selectinload(Response.collection_point),
                      selectinload(Response.branch), selectinload(Response.doctor))
             .order_by(Response.id).limit(limit))
    if since is not None:
        query = query.where(Response.submitted_at >= since)
    rows = db.session.scalars(query).all()
    cases = {case.response_id: case for case in db.session.scalars(
        select(Case).where(Case.response_id.in_([r.id for r in rows])))} if rows else {}
    # Built before the commit below, which would expire the loaded rows and reload each one.
    page = {"responses": [response_json(r, cases.get(r.id)) for r in rows],
            "next_after": rows[-1].id if len(rows) == limit else None}
    if rows:
        # Comments are personal data: the access log says which key read which responses.
        log_access(None, "api_read", "api_key", g.api_key.id,
                   {"key": g.api_key.name, "count": len(rows), "references": [r.reference for r in rows][:100]})
        db.session.commit()
    return page


@bp.get("/metrics")
@requires_scope("read")
def metrics():
    """The clinic's overview for a period (``YYYY-MM``, ``YYYY-Qn``, ``YYYY``; default this month)."""
    from app.analytics.read import overview_json
    from app.metrics import Period, reportable

    text = request.args.get("period", "").strip()
    try:
        period = Period.parse(text[:40]) if text else Period.containing(clinic_local_now().date(), "month")
    except (ValueError, OverflowError):
        return api_error(400, "bad_parameter", "'period' must be YYYY-MM, YYYY-Qn, YYYY or "
                                               "YYYY-MM-DD..YYYY-MM-DD.")
    if not reportable(period):
        return api_error(400, "bad_parameter", "'period' may cover at most five years, between 1990 and 2999.")
    return overview_json(current_tenant(), period)


@bp.get("/reputation")
@requires_scope("read")
def reputation():
    """The web-reputation index now, per clinic, branch, doctor and review site, and the clinic's last 90 days."""
    from app.reputation.service import clinic_today, index_drivers, index_overview, reputation_licensed, trend

    if not reputation_licensed():
        return api_error(403, "module_not_licensed", "The clinic's licence does not include web reputation.")
    today = clinic_today()
    scopes = [{"scope": item.scope, "id": item.scope_id,
               "name": current_tenant().name if item.scope == "clinic" else item.name,
               "index": item.index, "confidence": item.confidence, "reviews": item.reviews,
               "week_delta": item.week_delta} for item in index_overview(today)]
    return {"as_of": today.isoformat(), "scopes": scopes,
            "trend": [{"day": day.isoformat(), "index": value} for day, value in trend("clinic", 0, 90, today)],
            "drivers": _drivers_document(index_drivers(today=today))}


def _drivers_document(drivers) -> dict | None:
    """What moves the clinic's index, as ``GET /reputation`` gives it: topics and reviews with their pull in points."""
    if drivers is None:
        return None

    def topics(items):
        return [{"aspect": a.aspect, "points": round(a.impact, 2), "mentions": a.mentions} for a in items]

    def reviews(items):
        return [{"id": item["id"], "site": item["site"], "date": item["date"].isoformat(), "rating": item["rating"],
                 "points": round(pull, 2), "url": item["url"]} for item, pull in items]

    return {"above_neutral": round(drivers.above_neutral, 2), "topics_up": topics(drivers.aspects_up),
            "topics_down": topics(drivers.aspects_down), "reviews_up": reviews(drivers.reviews_up),
            "reviews_down": reviews(drivers.reviews_down)}


def _visit_rows(payload) -> tuple[list[list], list[dict]]:
    """The pushed visits as rows in FIELDS order, and the shape errors found on the way."""
    from app.visits_import import FIELDS

    errors: list[dict] = []
    rows: list[list] = []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": None, "message": "each visit must be a JSON object"})
            rows.append([None] * len(FIELDS))
            continue
        for name in sorted(set(item) - set(FIELDS)):
            errors.append({"index": index, "field": name, "message": "unknown field"})
        for name in FIELDS:
            if isinstance(item.get(name), (dict, list)):
                errors.append({"index": index, "field": name, "message": "must be a string or a number"})
        rows.append([item.get(name) if not isinstance(item.get(name), (dict, list)) else None for name in FIELDS])
    return rows, errors


@bp.post("/visits")
@requires_scope("visits")
def push_visits():
    """Import visits from the clinic's CRM, all or nothing; a visit sent again is counted, not doubled."""
    from app.analytics.refresh import FULL_JOB, request_job
    from app.visits_import import FIELDS, ImportReport, validate, write_visits

    body = request.get_json(silent=True)
    visits = body.get("visits") if isinstance(body, dict) else None
    if not isinstance(visits, list) or not visits:
        return api_error(400, "bad_request", 'Send JSON like {"visits": [{"patient": "P-1", '
                                             '"visited_on": "2026-11-20", "amount": 3500}]}.')
    if len(visits) > MAX_VISITS:
        return api_error(413, "too_many", f"Send at most {MAX_VISITS} visits per request.")
    rows, shape_errors = _visit_rows(visits)
    parsed, report = validate(list(FIELDS), rows, {name: name for name in FIELDS}, clinic_local_now().date())
    errors = shape_errors + [{"index": e.line - 2, "field": e.field, "value": e.value[:80],
                              "message": e.message % e.params if e.params else e.message} for e in report.errors]
    if errors:
        db.session.rollback()
        return api_error(422, "invalid_visits", "Nothing was imported: correct these visits and send them all again.",
                         errors=errors[:500], error_count=len(shape_errors) + report.error_count)
    tenant = current_tenant()
    record = VisitImport(filename=f"API: {g.api_key.name}"[:200], file_format="api", columns=list(FIELDS),
                         mapping={name: name for name in FIELDS}, status="running",
                         created_by=f"API key {g.api_key.name}"[:254])
    db.session.add(record)
    db.session.flush()
    report = ImportReport(total_rows=len(rows))
    write_visits(parsed, tenant.id, record.id, report)
    record.total_rows, record.imported_rows, record.duplicate_rows = len(rows), report.imported, report.duplicates
    record.status, record.finished_at = "done", utcnow()
    db.session.commit()
    if report.imported:
        request_job(tenant.id, FULL_JOB)
    return {"import_id": record.id, "received": len(rows), "imported": report.imported,
            "duplicates": report.duplicates}, 201
