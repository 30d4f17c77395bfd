"""Dashboards, the periodic report and the exports: thin views over app.analytics.read."""
from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from flask import Response as HttpResponse, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from sqlalchemy import select

from app.analytics import read
from app.analytics.compute import SEGMENT_KINDS
from app.cases import case_handling
from app.charts import bar_chart, line_chart, time_chart
from app.extensions import db
from app.metrics import Period, reportable
from app.models import Response
from app.reputation.service import clinic_today, period_summary, reputation_licensed, scorecard_indexes
from app.spreadsheet import safe_row
from app.workspace.base import bp, requires
from tenants.licensing import has_module
from tenants.resolve import clinic_local_now, current_licence_status, current_tenant

SEGMENT_LABELS = {
    "branch": _l("Branch"), "doctor": _l("Doctor"), "specialty": _l("Specialty"), "point": _l("QR code"),
    "gender": _l("Gender"), "age_band": _l("Age"), "district": _l("District"),
}


def _period() -> Period:
    """The period asked for in ``?period=`` (default: this month in the clinic's calendar); 400 if unreadable."""
    text = (request.args.get("period") or "").strip()
    if not text:
        return Period.containing(clinic_local_now().date(), "month")
    try:
        period = Period.parse(text[:40])
    except ValueError:
        abort(400, description=_("Period: use YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD."))
    if not reportable(period):
        abort(400, description=_("Period: choose at most five years, between 1990 and 2999."))
    return period


def journal_url(period: Period, **filters) -> str:
    """A link to the journal entries behind a figure (the journal reads these URL filters)."""
    query = {"period": "custom", "date_from": period.start.isoformat(), "date_to": period.last_day.isoformat()}
    query.update({k: v for k, v in filters.items() if v not in (None, "")})
    return url_for("workspace.home") + "journal?" + urlencode(query)


def _segment_filter(kind: str, key: str) -> dict:
    return {"branch": {"branch": key}, "doctor": {"doctor": key}, "point": {"point": key}}.get(kind, {})


def pct(value, digits: int = 0) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def num(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}".replace(",", "\u202f")


def delta(change, points: bool = False, percent: bool = False) -> str:
    """``+5`` / ``−3 pp`` (percentage points, "п. п." in Russian) for a Change, ``—`` when not comparable."""
    if change is None or change.delta is None:
        return "—"
    value = change.delta * (100 if percent else 1)
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    unit = "\u00a0" + pgettext("percentage points", "pp") if percent else ""
    return f"{sign}{abs(value):.1f}{unit}"


def _context(period: Period, **extra) -> dict:
    tenant = current_tenant()
    today = clinic_local_now().date()
    this_month = Period.containing(today, "month")
    quick = [(_("This month"), this_month), (_("Last month"), this_month.previous()),
             (_("This quarter"), Period.containing(today, "quarter")),
             (_("Last quarter"), Period.containing(today, "quarter").previous()),
             (_("This year"), Period.containing(today, "year"))]
    return {"tenant": tenant, "period": period, "quick_periods": quick, "journal_url": journal_url, "pct": pct,
            "num": num, "delta": delta, "segment_filter": _segment_filter, "segment_labels": SEGMENT_LABELS,
            "programme_enabled": _programme_enabled(), **extra}


def _programme_enabled() -> bool:
    current_licence_status()
    from flask import g

    return has_module(g.get("licence"), "loyalty_programme")


def _trend_charts(tenant, period: Period) -> dict:
    series = read.trend(tenant, period)
    labels = [p.period.label[2:] for p in series]
    return {
        "nps": line_chart(list(zip(labels, [o.nps_score for o in series])), _("NPS by month"),
                          low=-100, high=100, chart_id="trend-nps"),
        "csat": line_chart(list(zip(labels, [None if o.csat_share is None else 100 * o.csat_share
                                             for o in series])), _("CSAT by month, %"), low=0, high=100,
                           unit=" %", chart_id="trend-csat"),
        "loyalty": line_chart(list(zip(labels, [o.loyalty_index for o in series])), _("Loyalty index by month"),
                              low=0, high=100, chart_id="trend-loyalty"),
        "retention": line_chart(list(zip(labels, [None if o.retention_rate is None else 100 * o.retention_rate
                                                  for o in series])), _("Retention by month, %"), low=0,
                                high=100, unit=" %", chart_id="trend-retention"),
    }


def _distribution_chart(overview) -> object:
    classes = ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2
    return bar_chart([(str(i), float(c)) for i, c in enumerate(overview.nps_distribution)],
                     _("Answers to the recommendation question, 0–10"), classes=classes, chart_id="nps-dist")


@bp.get("/dashboard")
@requires("read")
def dashboard():
    tenant = current_tenant()
    period = _period()
    comparison = read.overview(tenant, period)
    return render_template("workspace/dashboard.html", **_context(
        period, comparison=comparison, o=comparison.current, charts=_trend_charts(tenant, period),
        distribution=_distribution_chart(comparison.current), ltv=read.annual_ltv(tenant, period)))


@bp.get("/dashboard/scorecards")
@requires("read")
def dashboard_scorecards():
    tenant = current_tenant()
    period = _period()
    from tenants.settings import clinic_settings

    return render_template("workspace/dashboard_scorecards.html", **_context(
        period, doctors=read.scorecards(tenant, period, "doctor"), branches=read.scorecards(tenant, period, "branch"),
        min_sample=clinic_settings(tenant).min_sample, web=_web_indexes(period), handled=_handled(tenant, period)))


def _handled(tenant, period: Period) -> dict:
    """How each doctor's and branch's cases opened in the period were handled, keyed like the scorecards' rows."""
    from app.cases import case_handling_by_subject

    return case_handling_by_subject(*period.bounds_utc(tenant.timezone))


def _web_indexes(period: Period) -> dict | None:
    """Each doctor's and branch's web reputation index as the period ended (today for the current
    one), keyed like the scorecards' rows; None without the module or for a period still to come."""
    if not reputation_licensed() or period.start > clinic_today():
        return None
    return scorecard_indexes(min(period.last_day, clinic_today()))


def _by_scorecard_key(scopes) -> dict:
    return {(s.scope, str(s.scope_id)): s for s in scopes if s.scope in ("doctor", "branch")}


@bp.get("/dashboard/segments")
@requires("read")
def dashboard_segments():
    tenant = current_tenant()
    period = _period()
    kind = request.args.get("kind") or "branch"
    if kind not in SEGMENT_KINDS or kind == "clinic":
        abort(400, description=_("Unknown segment."))
    return render_template("workspace/dashboard_segments.html", **_context(
        period, kind=kind, kinds=[k for k in SEGMENT_KINDS if k != "clinic"],
        rows=read.segment_rows(tenant, period, kind)))


@bp.get("/dashboard/programme")
@requires("read")
def dashboard_programme():
    if not _programme_enabled():
        abort(404)
    tenant = current_tenant()
    period = _period()
    from tenants.settings import clinic_settings

    return render_template("workspace/dashboard_programme.html", **_context(
        period, evaluation=read.programme_evaluation(tenant, period), comparison=read.overview(tenant, period),
        settings=clinic_settings(tenant)))


def _report_context(period: Period) -> dict:
    tenant = current_tenant()
    comparison = read.overview(tenant, period)
    css = (current_app.static_folder and open(f"{current_app.static_folder}/vernost.css", encoding="utf-8").read())
    return _context(
        period, comparison=comparison, o=comparison.current, charts=_trend_charts(tenant, period),
        doctors=read.scorecards(tenant, period, "doctor"), branches=read.scorecards(tenant, period, "branch"),
        praise=_comments(period, positive=True), complaints=_comments(period, positive=False),
        evaluation=read.programme_evaluation(tenant, period) if _programme_enabled() else None,
        ltv=read.annual_ltv(tenant, period), report_css=css, generated=clinic_local_now(),
        handling=case_handling(*period.bounds_utc(tenant.timezone)),
        handling_before=case_handling(*comparison.previous.period.bounds_utc(tenant.timezone)),
        handled=_handled(tenant, period), **_report_reputation(period))


def _report_reputation(period: Period) -> dict:
    # The web reputation index as at the period's end, with the period's reviews (docs/reputation-index.md).
    summary = period_summary(period.start, period.last_day)
    if summary is None:
        return {"reputation": None, "web": None}
    chart = time_chart(summary["trend"], title=_("Web reputation index, daily"), chart_id="reputation-trend",
                       empty_text=_("No daily index was recorded in this period."))
    return {"reputation": summary, "reputation_chart": chart, "web": _by_scorecard_key(summary["scopes"])}


def _comments(period: Period, positive: bool, limit: int = 5) -> list:
    # The report quotes a handful of comments: the most positive and most negative of the period,
    # each wording once (patients often write the very same words; the others are read from the
    # strongest few dozen).
    tenant = current_tenant()
    start, end = period.bounds_utc(tenant.timezone)
    order = Response.sentiment_polarity.desc() if positive else Response.sentiment_polarity.asc()
    condition = Response.sentiment_polarity > 0 if positive else Response.sentiment_polarity < 0
    candidates = db.session.scalars(select(Response).where(
        Response.submitted_at >= start, Response.submitted_at < end, Response.comment != "", condition)
        .order_by(order, Response.id).limit(limit * 10))
    picked, seen = [], set()
    for response in candidates:
        wording = " ".join(response.comment.split()).casefold()
        if wording not in seen:
            seen.add(wording)
            picked.append(response)
            if len(picked) == limit:
                break
    return picked


@bp.get("/dashboard/report")
@requires("read")
def dashboard_report():
    period = _period()
    return render_template("workspace/dashboard_report.html", **_report_context(period))


@bp.get("/export/report.pdf")
@requires("export")
def export_report_pdf():
    from app.analytics.pdf import PdfRendererMissing, html_to_pdf

    period = _period()
    html = render_template("workspace/dashboard_report.html", pdf=True, **_report_context(period))
    try:
        pdf = html_to_pdf(html)
    except PdfRendererMissing as exc:
        return render_template("error.html", code=503, title=_("PDF is not available"),
                               message=_("The PDF renderer (headless Chromium) is not installed on this server: "
                                         "open the printable report and print it to PDF from the browser.")
                               + f" ({exc})"), 503
    filename = f"vernost-{current_tenant().slug}-{period.label}.pdf"
    _log_export("report.pdf", period)  # it quotes patients' comments
    return HttpResponse(pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _csv_response(rows: list[list], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(safe_row(row))
    # A BOM so spreadsheet programs open UTF-8 Cyrillic correctly.
    return HttpResponse("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/export/responses.csv")
@requires("export")
def export_responses_csv():
    period = _period()
    tenant = current_tenant()
    from app.analytics.exports import responses_rows

    rows = responses_rows(tenant, period)
    _log_export("responses.csv", period, rows=len(rows) - 1)  # every answer and comment of the period
    return _csv_response(rows, f"responses-{tenant.slug}-{period.label}.csv")


def _log_export(file: str, period: Period, **details) -> None:
    """Files that take patients' words out of Vernost go into the access log, like every other export."""
    from flask_login import current_user

    from app.audit import log_access

    log_access(current_user.user.id, "export", "period_export", period.label, {"file": file, **details})
    db.session.commit()


def _period_csv(name: str, rows_for) -> HttpResponse:
    """A CSV of the chosen period, ``rows_for(tenant, period)``, named after the clinic and the period."""
    period, tenant = _period(), current_tenant()
    return _csv_response(rows_for(tenant, period), f"{name}-{tenant.slug}-{period.label}.csv")


@bp.get("/export/metrics.csv")
@requires("export")
def export_metrics_csv():
    from app.analytics.exports import metrics_rows

    return _period_csv("metrics", metrics_rows)


@bp.get("/export/cases.csv")
@requires("export")
def export_cases_csv():
    from app.analytics.exports import case_rows

    return _period_csv("cases", case_rows)


@bp.get("/export/scorecards.csv")
@requires("export")
def export_scorecards_csv():
    from app.analytics.exports import scorecard_rows

    return _period_csv("scorecards", lambda tenant, period: scorecard_rows(tenant, period, _web_indexes(period),
                                                                           _handled(tenant, period)))


