"""Loyalty analytics through the SQL path: snapshots computed from real rows, checked against
hand-worked examples (the arithmetic is in each test), on SQLite and PostgreSQL alike."""
from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (CollectionPoint, DirtyPeriod, MetricSnapshot, Response, ResponseRating, Tenant, Visit,
                        VisitImport)
from tenants.context import tenant_scope
from tests.conftest import make_clinic
from tests.factories import make_doctor

UTC = timezone.utc


def add_responses(app, clinic_id: int, rows: list[dict]) -> None:
    """Store responses directly: each dict may give nps, at (UTC datetime), would_return, ratings,
    doctor_id, branch_id, sentiment, risk."""
    from app.feedback import new_reference
    from app.questionnaires import published_version

    with app.app_context(), tenant_scope(clinic_id):
        point = db.session.scalar(select(CollectionPoint).order_by(CollectionPoint.id))
        version = published_version(point.questionnaire_id)
        for row in rows:
            response = Response(
                reference=new_reference(), submission_key=secrets.token_urlsafe(16), collection_point_id=point.id,
                questionnaire_version_id=version.id, branch_id=row.get("branch_id"), doctor_id=row.get("doctor_id"),
                submitted_at=row["at"], nps=row.get("nps"), would_return=row.get("would_return"),
                comment=row.get("comment", ""), risk_level=row.get("risk", "ok"),
                sentiment_polarity=row.get("sentiment"))
            response.ratings = [ResponseRating(aspect=a, score=s) for a, s in row.get("ratings", {}).items()]
            db.session.add(response)
        db.session.commit()


def compute(app, clinic_id: int, period: str) -> dict:
    """Store one period's snapshot through the SQL aggregation and read the overview back as JSON."""
    from app.analytics.compute import store_period
    from app.analytics.read import overview_json
    from app.metrics import Period

    with app.app_context(), tenant_scope(clinic_id):
        tenant = db.session.get(Tenant, clinic_id)
        p = Period.parse(period)
        for each in (p, p.previous(), p.same_period_last_year()):
            store_period(tenant, each)
        db.session.commit()
        return overview_json(tenant, p)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- survey metrics ---

def test_nps_csat_would_return_worked_example(app, tenant):
    # Moscow is UTC+3 in 2025: March runs from 2025-02-28 21:00 to 2025-03-31 21:00 UTC.
    add_responses(app, tenant.id, [
        {"nps": 10, "at": at("2025-02-28 21:30"), "would_return": True, "ratings": {"waiting": 5}},  # 1 March local
        {"nps": 10, "at": at("2025-03-10 10:00"), "would_return": True, "ratings": {"waiting": 4}},
        {"nps": 9, "at": at("2025-03-11 10:00"), "would_return": False, "ratings": {"waiting": 3}},
        {"nps": 7, "at": at("2025-03-12 10:00"), "ratings": {"waiting": 2, "doctor": 5}},
        {"nps": 3, "at": at("2025-03-31 20:59"), "risk": "critical"},                              # 23:59 local
        {"nps": 0, "at": at("2025-03-31 21:00")},                                                  # 1 April local
        {"nps": 0, "at": at("2025-02-28 20:59")},                                                  # 28 Feb local
    ])
    data = compute(app, tenant.id, "2025-03")
    # Five answers in local March: promoters 10, 10, 9 (3); passive 7 (1); detractor 3 (1).
    assert data["responses"] == 5
    assert data["nps_counts"] == {"promoters": 3, "passives": 1, "detractors": 1}
    assert data["nps"] == 100 * (3 - 1) / 5 == 40.0
    # SE = 100·√((0.6 + 0.2 − 0.4²)/5) = 100·√(0.64/5) = 35.78; interval 40 ± 1.96·35.78, upper clipped at 100.
    assert data["nps_interval"][0] == pytest.approx(40 - 1.959964 * 35.777, abs=0.01)
    assert data["nps_interval"][1] == 100
    # CSAT waiting: scores 5, 4, 3, 2 → satisfied (4–5) = 2 of 4 = 0.5; doctor: 1 of 1.
    assert data["csat"]["waiting"]["share"] == 0.5 and data["csat"]["waiting"]["n"] == 4
    assert data["csat"]["doctor"]["share"] == 1.0
    # Overall CSAT pools the aspects: (2 + 1) / (4 + 1) = 0.6.
    assert data["csat_overall"] == 0.6
    # Would come back: 2 yes of 3 answered.
    assert data["would_return"] == round(2 / 3, 4)
    assert data["critical"] == 1 and data["at_risk"] == 0
    # Loyalty index with only emotional components (default weights 0.20, 0.15, 0.15):
    # (0.20·(40+100)/2 + 0.15·60 + 0.15·66.67) / 0.5 = (14 + 9 + 10) / 0.5 = 66.0
    assert data["loyalty_index"] == pytest.approx((0.20 * 70 + 0.15 * 60 + 0.15 * 200 / 3) / 0.5, abs=0.01)
    assert data["nps_distribution"][10] == 2 and sum(data["nps_distribution"]) == 5


def test_no_data_is_none_not_zero(app, tenant):
    data = compute(app, tenant.id, "2025-03")
    assert data["responses"] == 0
    assert data["nps"] is None and data["csat"] == {} and data["csat_overall"] is None
    assert data["retention_rate"] is None and data["loyalty_index"] is None and data["churn"] is None


def test_one_response_and_all_promoters(app, tenant):
    add_responses(app, tenant.id, [{"nps": 9, "at": at("2025-05-05 09:00")}])
    one = compute(app, tenant.id, "2025-05")
    # n = 1, all promoters: NPS 100, variance 0 → the interval collapses to [100, 100].
    assert one["nps"] == 100 and one["nps_interval"] == [100, 100]
    add_responses(app, tenant.id, [{"nps": 10, "at": at("2025-05-06 09:00")} for _ in range(4)])
    many = compute(app, tenant.id, "2025-05")
    assert many["responses"] == 5 and many["nps"] == 100 and many["nps_counts"]["passives"] == 0


def test_period_spanning_a_time_zone_change(app):
    # Europe/Moscow moved from UTC+3 to UTC+4 on 27 March 2011: local March 2011 is
    # 2011-02-28 21:00 – 2011-03-31 20:00 UTC (743 hours).
    clinic = make_clinic(app, "msk2011", timezone="Europe/Moscow")
    add_responses(app, clinic.id, [
        {"nps": 10, "at": at("2011-02-28 21:00")},   # 00:00 on 1 March (UTC+3): in
        {"nps": 10, "at": at("2011-03-31 19:59")},   # 23:59 on 31 March (UTC+4): in
        {"nps": 0, "at": at("2011-03-31 20:00")},    # 00:00 on 1 April (UTC+4): out
        {"nps": 0, "at": at("2011-02-28 20:59")},    # 23:59 on 28 February: out
    ])
    data = compute(app, clinic.id, "2011-03")
    assert data["responses"] == 2 and data["nps"] == 100
    april = compute(app, clinic.id, "2011-04")
    assert april["responses"] == 1 and april["nps"] == -100


# --- scorecards ---

def _scorecards(app, clinic_id, period, kind="doctor"):
    from app.analytics.read import scorecards
    from app.metrics import Period

    with app.app_context(), tenant_scope(clinic_id):
        from app.analytics.compute import store_period

        tenant = db.session.get(Tenant, clinic_id)
        store_period(tenant, Period.parse(period))
        db.session.commit()
        return {row.name: row.scorecard for row in scorecards(tenant, Period.parse(period), kind)}


def test_scorecard_suppressed_below_minimum_sample(app, tenant):
    few = make_doctor(app, tenant.id, "Dr Few")
    enough = make_doctor(app, tenant.id, "Dr Enough")
    # Dr Few: 29 answers (one short of the default minimum of 30).
    add_responses(app, tenant.id, [{"nps": 10, "doctor_id": few, "at": at("2025-06-02 09:00")}] * 29)
    # Dr Enough: 30 answers: 21 promoters, 6 passives, 3 detractors → NPS = 100·(21 − 3)/30 = 60.
    add_responses(app, tenant.id, [{"nps": 10, "doctor_id": enough, "at": at("2025-06-03 09:00")}] * 21
                  + [{"nps": 8, "doctor_id": enough, "at": at("2025-06-03 09:00")}] * 6
                  + [{"nps": 2, "doctor_id": enough, "at": at("2025-06-03 09:00")}] * 3)
    cards = _scorecards(app, tenant.id, "2025-06")
    assert cards["Dr Few"].nps.suppressed and cards["Dr Few"].nps.value is None and cards["Dr Few"].nps.n == 29
    card = cards["Dr Enough"].nps
    assert not card.suppressed and card.value == 60.0 and card.n == 30
    # var = 0.7 + 0.1 − 0.6² = 0.44; SE = 100·√(0.44/30) = 12.11 → [36.26, 83.74]
    assert card.interval.low == pytest.approx(60 - 1.959964 * 12.1106, abs=0.01)
    # No CSAT ratings at all: suppressed with n = 0.
    assert cards["Dr Enough"].csat.suppressed and cards["Dr Enough"].csat.n == 0


def test_scorecard_minimum_sample_is_a_clinic_setting(app, tenant):
    from tenants.settings import update_settings

    doctor = make_doctor(app, tenant.id, "Dr Small")
    with app.app_context(), tenant_scope(tenant.id):
        update_settings(db.session.get(Tenant, tenant.id), min_sample=2)
        db.session.commit()
    add_responses(app, tenant.id, [{"nps": 10, "doctor_id": doctor, "sentiment": 0.5, "at": at("2025-06-02 09:00")},
                                   {"nps": 6, "doctor_id": doctor, "sentiment": -0.1, "at": at("2025-06-02 10:00")}])
    card = _scorecards(app, tenant.id, "2025-06")["Dr Small"]
    # 1 promoter, 1 detractor of 2 → NPS 0; mean sentiment (0.5 − 0.1)/2 = 0.2.
    assert card.nps.value == 0 and card.sentiment.value == pytest.approx(0.2)


# --- visits: import and behavioural metrics ---

VISITS_CSV = """patient;date;doctor;service;amount;gender;birth_year
A;2025-02-03;Dr House;consultation;1000;F;1980
B;2025-02-04;Dr House;consultation;1000;M;1990
C;2025-02-10;;tests;500;F;1975
D;2025-01-05;;tests;500;;
A;2025-03-03;Dr House;consultation;1000;F;1980
A;2025-03-20;Dr House;x-ray;2000;F;1980
B;2025-03-05;;tests;500;M;1990
E;2025-03-07;Dr House;consultation;1500;M;2000
"""


def import_text(app, clinic_id: int, text: str | bytes, name: str = "visits.csv", encoding: str = "utf-8"):
    from app.visits_import import create_import, run_import

    content = text.encode() if isinstance(text, str) else text
    with app.app_context(), tenant_scope(clinic_id):
        visit_import = create_import(name, content, encoding, "test")
        db.session.commit()
        report = run_import(visit_import, date(2026, 1, 1), track_progress=False)
        visits = db.session.scalar(select(func.count()).select_from(Visit))
        return report, visits


def test_behavioural_metrics_worked_example(app, tenant):
    from tenants.settings import update_settings

    make_doctor(app, tenant.id, "Dr House")
    with app.app_context(), tenant_scope(tenant.id):
        update_settings(db.session.get(Tenant, tenant.id), lost_after_months=1)
        db.session.commit()
    report, visits = import_text(app, tenant.id, VISITS_CSV)
    assert report.ok and report.imported == 8 and visits == 8
    data = compute(app, tenant.id, "2025-03")
    # March: A (2 visits, 2 services), B (1), E (1, first visit) → 3 patients.
    assert data["patients"] == 3 and data["visits"] == 4
    assert data["repeat_visit_rate"] == round(1 / 3, 4)      # A only
    assert data["multi_service_share"] == round(1 / 3, 4)    # A: consultation + x-ray
    # Retention: February's patients A, B, C; A and B came back → 2/3.
    assert data["retention_rate"] == round(2 / 3, 4)
    # Revenue 1000 + 2000 + 500 + 1500 = 5000 over 3 patients.
    assert data["revenue"] == 5000 and data["revenue_per_patient"] == round(5000 / 3, 2)
    # Lost after 1 month. On 28 Feb the cutoff is 28 Jan: D (last visit 5 Jan) was already lost, so the
    # register is A, B, C, E = 4. On 31 March the cutoff is 28 Feb: C (10 Feb) is lost during March → 1.
    # New in March: E → 1. churn = 1/4, inflow = 1/4, no warning.
    assert (data["lost_patients"], data["new_patients"]) == (1, 1)
    assert data["churn"] == 0.25 and data["inflow"] == 0.25 and data["churn_exceeds_inflow"] is False


def test_segments_by_doctor_gender_and_age(app, tenant):
    from app.analytics.read import segment_rows
    from app.metrics import Period

    doctor = make_doctor(app, tenant.id, "Dr House")
    import_text(app, tenant.id, VISITS_CSV)
    compute(app, tenant.id, "2025-03")
    with app.app_context(), tenant_scope(tenant.id):
        tenant_row = db.session.get(Tenant, tenant.id)
        by_doctor = {r.key: r.overview for r in segment_rows(tenant_row, Period.parse("2025-03"), "doctor")}
        by_gender = {r.key: r.overview for r in segment_rows(tenant_row, Period.parse("2025-03"), "gender")}
        by_age = {r.key: r.overview for r in segment_rows(tenant_row, Period.parse("2025-03"), "age_band")}
    # Dr House in March: A (twice), E → 2 patients; in February A, B → both came back? A yes, B not to him → 1/2.
    assert by_doctor[str(doctor)].patients == 2 and by_doctor[str(doctor)].retention_rate == 0.5
    # Gender: F = A; M = B, E.
    assert by_gender["f"].patients == 1 and by_gender["m"].patients == 2
    # Age in 2025: A 45 → 45-59; B 35 → 30-44; E 25 → 18-29.
    assert {k: o.patients for k, o in by_age.items()} == {"45-59": 1, "30-44": 1, "18-29": 1}


def test_reimport_changes_nothing(app, tenant):
    make_doctor(app, tenant.id, "Dr House")
    first, _ = import_text(app, tenant.id, VISITS_CSV)
    second, visits = import_text(app, tenant.id, VISITS_CSV)
    assert first.imported == 8
    assert second.ok and second.imported == 0 and second.duplicates == 8 and visits == 8


def test_an_import_leaves_the_planner_with_fresh_row_estimates(app, tenant):
    """Otherwise the recompute that follows an import is planned for empty tables (nested loops)."""
    from sqlalchemy import text

    rows = "".join(f"P{n},2025-03-{1 + n % 28:02d},{100 + n}\n" for n in range(300))
    report, visits = import_text(app, tenant.id, "patient,date,amount\n" + rows)
    assert report.ok and visits == 300
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            estimates = dict(db.session.execute(text(
                "SELECT relname, reltuples FROM pg_class WHERE relname IN ('visits', 'patients')")).all())
        else:
            estimates = {table: int(stat.split()[0]) for table, stat in db.session.execute(text(
                "SELECT tbl, stat FROM sqlite_stat1 WHERE tbl IN ('visits', 'patients') AND idx IS NOT NULL"))}
    assert estimates == {"visits": 300, "patients": 300}


def test_a_clinics_first_import_refreshes_estimates_even_in_a_full_table(app, tenant, other_tenant):
    """Another clinic's visits fill the table, so this import is a small share of it; but the planner's
    estimate for this clinic's rows, which plans all of its queries, would be off by the whole import."""
    from sqlalchemy import text

    def estimate() -> int:
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                return int(db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'visits'")))
            return int(db.session.scalar(text(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'visits' AND idx IS NOT NULL LIMIT 1")).split()[0])

    rows = "".join(f"Q{n},2025-03-{1 + n % 28:02d},{100 + n}\n" for n in range(1500))
    import_text(app, other_tenant.id, "patient,date,amount\n" + rows)
    assert estimate() == 1500
    rows = "".join(f"P{n},2025-04-{1 + n % 28:02d},{100 + n}\n" for n in range(250))  # a sixth of the table
    report, visits = import_text(app, tenant.id, "patient,date,amount\n" + rows)
    assert report.ok and visits == 250
    assert estimate() == 1750


def test_duplicate_rows_in_one_file_are_imported_once(app, tenant):
    text = "patient,date,amount\nA,2025-03-01,100\nA,2025-03-01,100\nB,01.03.2025,\"1 500,50\"\n"
    report, visits = import_text(app, tenant.id, text)
    assert report.ok and report.imported == 2 and report.duplicates == 1 and visits == 2
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.sum(Visit.amount_kopecks))) == 10000 + 150050


@pytest.mark.parametrize("text, field, message", [
    ("patient,date,amount\nA,2025-13-01,100\n", "visited_on", "no such day"),
    ("patient,date,amount\nA,31/02/2025,100\n", "visited_on", "no such day"),
    ("patient,date,amount\nA,yesterday,100\n", "visited_on", "not a date"),
    ("patient,date,amount\nA,2099-01-01,100\n", "visited_on", "future"),
    ("patient,date,amount\nA,2025-01-01,-5\n", "amount", "negative"),
    ("patient,date,amount\nA,2025-01-01,ten\n", "amount", "not an amount"),
    ("patient,date,amount\nA,2025-01-01,nan\n", "amount", "not an amount"),  # Decimal reads it; no till does
    ("patient,date,amount\nA,2025-01-01,Infinity\n", "amount", "not an amount"),
    ("patient,date,amount\n,2025-01-01,10\n", "patient", "empty"),
    ("patient,date,amount,doctor\nA,2025-01-01,10,Dr Nobody\n", "doctor", "no such doctor"),
    ("patient,date,amount,gender\nA,2025-01-01,10,X\n", "gender", "M/F"),
    ("patient,date,amount,birth_year\nA,2025-01-01,10,19²\n", "birth_year", "a year from 1900"),
    ("patient,date,amount,birth_year\nA,2025-01-01,10,99999999999999999999\n", "birth_year", "a year from 1900"),
])
def test_bad_rows_are_reported_and_nothing_is_imported(app, tenant, text, field, message):
    # A good row first: all or nothing means it is not imported either.
    header, bad_line = text.rstrip("\n").split("\n")
    good_first = "\n".join([header, "OK,2025-01-02,10" + "," * (header.count(",") - 2), bad_line]) + "\n"
    report, visits = import_text(app, tenant.id, good_first)
    assert not report.ok and visits == 0
    bad = [e for e in report.errors if e.field == field]
    assert bad and message in bad[0].message and bad[0].line == 3
    with app.app_context(), tenant_scope(tenant.id):
        row = db.session.scalar(select(VisitImport).order_by(VisitImport.id.desc()))
        assert row.status == "failed" and row.imported_rows == 0 and row.errors[0]["line"] == 3


def test_wrong_encoding_and_missing_columns_are_clear(app, tenant):
    from app.visits_import import ImportFileError

    cp1251 = "пациент;дата;сумма\nА1;2025-01-01;100\n".encode("cp1251")
    with pytest.raises(ImportFileError, match="not valid UTF-8"):
        import_text(app, tenant.id, cp1251)
    # The same file read as windows-1251 imports (Russian headers are recognised).
    report, visits = import_text(app, tenant.id, cp1251, encoding="windows-1251")
    assert report.ok and visits == 1
    report, _ = import_text(app, tenant.id, "client;when\nA;2025-01-01\n")
    assert not report.ok
    assert {e.message % e.params for e in report.errors} >= {"Required field “patient” is not mapped to a column.",
                                                             "Required field “amount” is not mapped to a column."}


def test_csv_with_old_mac_line_ends_imports(app, tenant):
    """Excel's "CSV (Macintosh)" ends lines with CR alone; the reader used to stop on it."""
    report, visits = import_text(app, tenant.id, "patient;date;amount\rA;2025-01-01;100\rB;2025-01-02;200\r")
    assert report.ok and visits == 2


def test_first_visit_follows_the_crm_flags_and_later_imports(app, tenant, other_tenant):
    from app.models import Patient

    text = ("patient;date;amount;first\n"
            "FLAGGED;2025-01-10;100;\nFLAGGED;2025-02-10;100;да\n"      # flagged first wins over the earliest
            "REPEAT;2025-01-10;100;нет\nREPEAT;2025-03-10;100;\n"        # the earliest is a repeat: first unknown
            "PLAIN;2025-04-10;100;\nPLAIN;2025-03-10;100;\n")             # no flags: the earliest
    for clinic in (tenant, other_tenant):
        assert import_text(app, clinic.id, text)[0].ok

    def firsts(clinic_id):
        with app.app_context(), tenant_scope(clinic_id):
            return {p.external_id: p.first_visit_on for p in db.session.scalars(select(Patient))}

    assert firsts(tenant.id) == {"FLAGGED": date(2025, 2, 10), "REPEAT": None, "PLAIN": date(2025, 3, 10)}
    # A later export with an earlier visit moves the first visit back, in this clinic only.
    assert import_text(app, tenant.id, "patient;date;amount\nPLAIN;2024-12-01;100\n")[0].ok
    assert firsts(tenant.id)["PLAIN"] == date(2024, 12, 1)
    assert firsts(other_tenant.id)["PLAIN"] == date(2025, 3, 10)


def test_control_characters_in_a_file_cost_the_character_not_the_import(app, tenant):
    """Values are stored without control characters (a NUL, which PostgreSQL refuses, arrives by the API)."""
    report, visits = import_text(app, tenant.id, "patient,date,amount,service\nA\x1b-1,2025-01-01,100,Con\x07sult\n")
    assert report.ok and visits == 1
    with app.app_context(), tenant_scope(tenant.id):
        from app.models import Patient

        assert db.session.scalar(select(Patient.external_id)) == "A-1"
        assert db.session.scalar(select(Visit.service)) == "Consult"


def test_xlsx_import(app, tenant):
    import io

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Пациент", "Дата визита", "Услуга", "Сумма", "Первичный"])
    sheet.append(["P1", datetime(2025, 3, 1, 10, 0), "Консультация", 1500.5, "да"])
    sheet.append(["P1", date(2025, 3, 9), "Анализы", 700, "нет"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report, visits = import_text(app, tenant.id, buffer.getvalue(), name="export.xlsx")
    assert report.ok and visits == 2
    with app.app_context(), tenant_scope(tenant.id):
        from app.models import Patient

        patient = db.session.scalar(select(Patient))
        assert patient.external_id == "P1" and patient.first_visit_on == date(2025, 3, 1)
        assert db.session.scalar(select(func.sum(Visit.amount_kopecks))) == 150050 + 70000


def test_xlsx_with_a_stale_declared_size_loses_no_rows(app, tenant):
    """Some generators write a sheet's size once and never update it; read-only openpyxl trusts it."""
    import io
    import re as regex
    import zipfile

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["patient", "date", "amount"])
    for n in range(1, 11):
        sheet.append([f"P{n}", date(2025, 3, n), 100 * n])
    saved = io.BytesIO()
    workbook.save(saved)
    stale = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved.getvalue())) as source, zipfile.ZipFile(stale, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, replaced = regex.subn(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B5"', data)
                assert replaced == 1
            target.writestr(item, data)
    report, visits = import_text(app, tenant.id, stale.getvalue(), name="export.xlsx")
    assert report.ok and visits == 10
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.sum(Visit.amount_kopecks))) == 100 * 55 * 100


def test_an_empty_amount_is_a_clear_error_not_a_free_visit(app, tenant):
    report, visits = import_text(app, tenant.id, "patient;date;amount;bonuses_awarded\nA;2025-03-01;;\nB;2025-03-02;0;\n")
    assert not report.ok and visits == 0
    assert [(e.line, e.field, e.message) for e in report.errors] == \
        [(2, "amount", "the amount is empty: write 0 for a free visit")]
    from app.visits_import import parse_money

    assert (parse_money("1,500.00"), parse_money("1 500,50"), parse_money("1,5")) == (150000, 150050, 150)
    for ambiguous in ("1,500", "12,345,678"):
        with pytest.raises(ValueError, match="ambiguous"):
            parse_money(ambiguous)


def test_not_a_workbook(app, tenant):
    from app.visits_import import ImportFileError

    with pytest.raises(ImportFileError, match="XLSX"):
        import_text(app, tenant.id, b"PK\x03\x04 not really a zip", name="broken.xlsx")


# --- incremental refresh, coalescing, nightly fan-out ---

def test_new_response_marks_its_periods_dirty_and_one_refresh_recomputes_them(app, tenant):
    from rq import Queue

    from app.extensions import redis_client
    from jobs.feedback import response_received
    from jobs.worker import InlineAppWorker, build_worker

    add_responses(app, tenant.id, [{"nps": 10, "at": at("2025-07-15 09:00")},
                                   {"nps": 0, "at": at("2025-07-16 09:00")}])
    with app.app_context():
        with tenant_scope(tenant.id):
            ids = db.session.scalars(select(Response.id).order_by(Response.id)).all()
        for response_id in ids:
            response_received(tenant.id, response_id)
        with tenant_scope(tenant.id):
            assert set(db.session.scalars(select(DirtyPeriod.period)).all()) == {"2025-07", "2025-Q3", "2025"}
        # Two responses, one refresh job waiting (its id names the clinic).
        assert Queue("metrics", connection=redis_client()).count == 1
    build_worker(app, ["metrics"], worker_class=InlineAppWorker).work(burst=True)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(DirtyPeriod)) == 0
        periods = set(db.session.scalars(select(MetricSnapshot.period).distinct()).all())
        assert periods == {"2025-07", "2025-Q3", "2025"}  # only the dirty periods, nothing else
        snapshot = db.session.scalar(select(MetricSnapshot).where(MetricSnapshot.period == "2025-07",
                                                                  MetricSnapshot.segment_kind == "clinic"))
        assert snapshot.counts["survey"]["responses"] == 2


def test_nightly_fan_out_skips_suspended_clinics(app, tenant, other_tenant):
    from rq import Queue

    from app.extensions import redis_client
    from jobs.metrics import nightly_recompute
    from tenants.context import platform_scope
    from tenants.onboarding import set_suspended

    with app.app_context():
        with platform_scope():
            set_suspended(db.session.get(Tenant, other_tenant.id), True, actor="test")
            db.session.commit()
        assert nightly_recompute() == 1
        jobs = Queue("metrics", connection=redis_client()).jobs
        assert [job.id for job in jobs] == [f"t{tenant.id}-metrics-full"]
        assert jobs[0].meta["tenant_id"] == tenant.id


def test_full_recompute_covers_every_period_from_the_first_data(app, tenant):
    from app.analytics.refresh import full_recompute

    add_responses(app, tenant.id, [{"nps": 9, "at": at("2025-11-03 09:00")}])
    with app.app_context(), tenant_scope(tenant.id):
        count = full_recompute(db.session.get(Tenant, tenant.id))
        periods = set(db.session.scalars(select(MetricSnapshot.period).distinct()).all())
    assert {"2025-11", "2025-12", "2025-Q4", "2025", "2026"} <= periods and count == len(periods)


def test_quarters_summed_from_months_equal_a_direct_query(app, tenant):
    from app.analytics.compute import response_counts
    from app.analytics.refresh import full_recompute
    from app.metrics import Period

    doctor = make_doctor(app, tenant.id, "Dr Sum")
    # Month edges in local time (UTC+3): 31 Dec 21:00 UTC is 1 January.
    add_responses(app, tenant.id, [
        {"nps": 10, "at": at("2024-12-31 21:00"), "ratings": {"waiting": 5}, "sentiment": 0.25},
        {"nps": 5, "at": at("2025-02-15 12:00"), "doctor_id": doctor, "would_return": True, "sentiment": -0.5},
        {"nps": 8, "at": at("2025-03-31 20:59"), "doctor_id": doctor, "ratings": {"waiting": 2}, "risk": "at_risk"},
        {"nps": 9, "at": at("2025-03-31 21:00")},  # 1 April: the second quarter
    ])
    with app.app_context(), tenant_scope(tenant.id):
        tenant_row = db.session.get(Tenant, tenant.id)
        full_recompute(tenant_row)
        for label in ("2025-Q1", "2025"):
            stored = {(s.segment_kind, s.segment_key): s.counts["survey"] for s in db.session.scalars(
                select(MetricSnapshot).where(MetricSnapshot.period == label)) if "survey" in s.counts}
            direct = response_counts(tenant_row, Period.parse(label))
            assert stored == direct, label
        q1 = db.session.scalar(select(MetricSnapshot).where(MetricSnapshot.period == "2025-Q1",
                                                           MetricSnapshot.segment_kind == "clinic"))
        assert q1.counts["survey"]["responses"] == 3


def test_refresh_sums_stored_months_into_quarter_and_year(app, tenant):
    """After new answers, the refreshed quarter and year equal a direct count, without rescanning them."""
    from app.analytics.compute import response_counts
    from app.analytics.refresh import full_recompute, mark_dirty, refresh_dirty
    from app.metrics import Period

    add_responses(app, tenant.id, [{"nps": 10, "at": at("2025-01-10 09:00"), "ratings": {"waiting": 4}},
                                   {"nps": 3, "at": at("2025-02-10 09:00"), "risk": "at_risk"}])
    with app.app_context(), tenant_scope(tenant.id):
        full_recompute(db.session.get(Tenant, tenant.id))
    add_responses(app, tenant.id, [{"nps": 7, "at": at("2025-03-05 09:00"), "ratings": {"waiting": 1}}])
    with app.app_context(), tenant_scope(tenant.id):
        tenant_row = db.session.get(Tenant, tenant.id)
        mark_dirty(tenant_row, at("2025-03-05 09:00"))
        db.session.commit()
        scanned: list[str] = []
        import app.analytics.compute as compute

        real = compute.response_counts

        def counting(tenant_arg, period):
            scanned.append(period.label)
            return real(tenant_arg, period)

        compute.response_counts = counting
        try:
            assert refresh_dirty(tenant_row) == ["2025-03", "2025-Q1", "2025"]  # months first
        finally:
            compute.response_counts = real
        assert scanned == ["2025-03"]  # the quarter and the year were summed from stored months
        for label in ("2025-Q1", "2025"):
            stored = {(s.segment_kind, s.segment_key): s.counts["survey"] for s in db.session.scalars(
                select(MetricSnapshot).where(MetricSnapshot.period == label)) if "survey" in s.counts}
            assert stored == response_counts(tenant_row, Period.parse(label)), label
            assert stored[("clinic", "all")]["responses"] == 3


def test_an_answer_arriving_while_its_month_is_computed_keeps_the_month_dirty(app, tenant, monkeypatch):
    """The refresh clears only marks older than its start; a second mark of the same month is newer."""
    import time

    import app.analytics.refresh as refresh

    add_responses(app, tenant.id, [{"nps": 9, "at": at("2025-03-05 09:00")}])
    with app.app_context(), tenant_scope(tenant.id):
        tenant_row = db.session.get(Tenant, tenant.id)
        refresh.mark_dirty(tenant_row, at("2025-03-05 09:00"))
        db.session.commit()
        real = refresh.store_period

        def store_while_an_answer_arrives(tenant_arg, period, survey=None):
            result = real(tenant_arg, period, survey)
            if period.label == "2025-03":  # an answer for March comes in while March is being computed
                time.sleep(0.01)
                refresh.mark_dirty(tenant_arg, at("2025-03-06 09:00"))  # what its submission does
                db.session.commit()
            return result

        monkeypatch.setattr(refresh, "store_period", store_while_an_answer_arrives)
        refresh.refresh_dirty(tenant_row)
        left = set(db.session.scalars(select(DirtyPeriod.period)))
    assert left == {"2025-03", "2025-Q1", "2025"}  # the next refresh counts the second answer


def test_refresh_counts_from_responses_when_a_month_snapshot_is_missing(app, tenant):
    from app.analytics.refresh import mark_dirty, refresh_dirty

    add_responses(app, tenant.id, [{"nps": 9, "at": at("2025-01-10 09:00")},
                                   {"nps": 2, "at": at("2025-02-10 09:00")}])
    with app.app_context(), tenant_scope(tenant.id):
        tenant_row = db.session.get(Tenant, tenant.id)
        mark_dirty(tenant_row, at("2025-02-10 09:00"))  # January was never computed
        db.session.commit()
        refresh_dirty(tenant_row)
        q1 = db.session.scalar(select(MetricSnapshot).where(MetricSnapshot.period == "2025-Q1",
                                                           MetricSnapshot.segment_kind == "clinic"))
        assert q1.counts["survey"]["responses"] == 2


# --- command line ---

def test_metrics_show_json_and_visits_import_cli(app, tenant, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "visits.csv"
    path.write_text("Пациент,Дата,Стоимость\nX1,2025-03-01,100\n", encoding="utf-8")
    result = runner.invoke(args=["visits", "import", "--tenant", "alpha", str(path), "--map", "Стоимость=amount"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 visits" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("patient,date,amount\nX1,never,100\n", encoding="utf-8")
    result = runner.invoke(args=["visits", "import", "--tenant", "alpha", str(bad)])
    assert result.exit_code == 1 and "line 2: visited_on" in result.output
    result = runner.invoke(args=["visits", "import", "--tenant", "alpha", str(bad), "--map", "x=nonsense"])
    assert result.exit_code == 2
    add_responses(app, tenant.id, [{"nps": 10, "at": at("2025-03-05 09:00"), "ratings": {"waiting": 4}}])
    assert runner.invoke(args=["metrics", "recompute", "--tenant", "alpha"]).exit_code == 0
    result = runner.invoke(args=["metrics", "show", "--tenant", "alpha", "--period", "2025-03", "--json"])
    data = json.loads(result.output)
    assert data["nps"] == 100 and data["responses"] == 1 and data["csat"]["waiting"]["share"] == 1.0
    assert data["patients"] == 1
    for key in ("retention_rate", "churn", "inflow", "loyalty_index"):
        assert key in data
    for bad in ("March", "0001-01", "1989-12"):
        assert runner.invoke(args=["metrics", "show", "--tenant", "alpha", "--period", bad]).exit_code == 2, bad
    assert runner.invoke(args=["metrics", "show", "--tenant", "nope"]).exit_code == 1


def test_ltv_comes_from_the_last_whole_year(app, tenant):
    """Not from the year still running, whose revenue and retention are only partly in."""
    from app.analytics.read import annual_ltv
    from app.metrics import Period
    from app.metrics.ltv import ltv

    rows = ["patient;date;service;amount",
            "A;2023-03-01;x;1000", "B;2023-04-01;x;1000", "C;2023-05-01;x;1000", "D;2023-06-01;x;1000",
            "A;2024-03-01;x;3000", "B;2024-04-01;x;1000", "E;2024-05-01;x;2000",
            "A;2025-01-05;x;100"]
    report, _ = import_text(app, tenant.id, "\n".join(rows) + "\n")
    assert report.ok
    for label in ("2023", "2024", "2025", "2024-06", "2025-01"):
        compute(app, tenant.id, label)
    with app.app_context(), tenant_scope(tenant.id):
        clinic = db.session.get(Tenant, tenant.id)
        # 2024: revenue 6000 over 3 patients; 2 of 2023's 4 patients came back → churn 0.5, lifetime 2 years.
        expected_2024 = ltv(2000.0, 0.5).ltv
        mid_january = date(2025, 1, 15)
        assert annual_ltv(clinic, Period.parse("2025-01"), today=mid_january).ltv == expected_2024 == 4000
        assert annual_ltv(clinic, Period.parse("2025"), today=mid_january).ltv == expected_2024
        assert annual_ltv(clinic, Period.parse("2024"), today=mid_january).ltv == expected_2024
        # June 2024 knew only 2023, which has no year before it: no churn, no LTV.
        assert annual_ltv(clinic, Period.parse("2024-06"), today=mid_january) is None
