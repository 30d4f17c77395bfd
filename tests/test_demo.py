"""The demo clinic that `scripts/dev.py up` creates: every part of the product has something to show."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, Doctor, ExternalReview, PublishedReview, Response, Tenant, Visit, VisitImport
from tenants.context import platform_scope, tenant_scope
from tests.conftest import login


def _demo(app):
    with app.app_context(), platform_scope():
        return db.session.scalar(select(Tenant).where(Tenant.slug == "demo"))


def _counts(app, tenant_id):
    with app.app_context(), tenant_scope(tenant_id):
        return {
            "responses": db.session.scalar(select(func.count()).select_from(Response)),
            "visits": db.session.scalar(select(func.count()).select_from(Visit)),
            "reviews": db.session.scalar(select(func.count()).select_from(ExternalReview)),
            "cases": dict(db.session.execute(select(Case.status, func.count()).group_by(Case.status)).all()),
        }


def test_demo_clinic_has_a_year_of_history_in_every_part(app, runner, client):
    from datetime import date

    from app.analytics.read import overview_json
    from app.metrics.periods import Period
    from app.reputation.service import dashboard_card

    seeded = runner.invoke(args=["demo", "seed"])
    assert seeded.exit_code == 0, seeded.output
    assert "manager@demo-clinic.local / manager-demo-pass" in seeded.output
    tenant = _demo(app)
    counts = _counts(app, tenant.id)
    assert counts["responses"] == 1500 and counts["visits"] > 1000 and counts["reviews"] == 24
    # Older cases handled and resolved, this week's still open.
    assert counts["cases"]["resolved"] > 50 and counts["cases"]["new"] > 0 and counts["cases"]["in_progress"] > 0

    with app.app_context(), tenant_scope(tenant.id):
        today = date.today()
        this_month = Period.containing(today, "month")
        figures = overview_json(db.session.get(Tenant, tenant.id), this_month.previous())
        year = overview_json(db.session.get(Tenant, tenant.id), Period.containing(today, "year"))
        card = dashboard_card()
        scored = db.session.scalar(select(func.count()).select_from(Response).where(
            Response.comment != "", Response.sentiment_label.is_not(None)))
        commented = db.session.scalar(select(func.count()).select_from(Response).where(Response.comment != ""))
        imported = db.session.scalar(select(VisitImport))
        published = db.session.scalar(select(func.count()).select_from(PublishedReview))
        commented_at = db.session.execute(select(Response.comment, Doctor.specialty).outerjoin(
            Doctor, Doctor.id == Response.doctor_id).where(Response.comment != "")).all()
    # Every headline figure of last month exists: survey, visits, churn, programme.
    for name in ("nps", "csat_overall", "loyalty_index", "retention_rate", "churn", "revenue_per_patient",
                 "repeat_visit_rate", "sentiment_mean"):
        assert figures[name] is not None, name
    assert figures["responses"] > 30 and figures["previous"]["nps"] is not None
    assert year["ltv"] is not None
    assert card is not None and card["index"] is not None and len([v for _, v in card["trend"] if v]) == 30
    assert scored == commented > 300  # every comment has its sentiment and topics, as the worker would give
    assert imported.status == "done" and imported.imported_rows == counts["visits"]
    assert published == 6
    # A comment that names a specialty was left in that doctor's room ("Кардиолог всё разложил…" not at the
    # dermatologist's); and such comments are there.
    specialties = {specialty.lower() for _, specialty in commented_at if specialty}
    naming = [(comment, specialty) for comment, specialty in commented_at
              if any(name in comment.lower() for name in specialties)]
    assert len(naming) > 10
    assert all(specialty and specialty.lower() in comment.lower() for comment, specialty in naming), naming[:5]

    login(client, "manager@demo-clinic.local", "manager-demo-pass")
    dashboard = client.get("/c/demo/dashboard?period=" + this_month.previous().label).get_data(as_text=True)
    stats = re.findall(r'class="stat"[^>]*>([^<]*)<', dashboard)
    assert len(stats) >= 8 and "—" not in stats, stats
    journal = client.get("/c/demo/journal").get_data(as_text=True)
    assert journal.count('id="r-') >= 20
    assert client.get("/c/demo/cases?view=overdue").get_data(as_text=True).count('class="badge overdue"') >= 1
    widget = client.get("/w/demo/reviews").get_data(as_text=True)
    assert widget.count("<blockquote>") == 6
    # The demo's reviews arrived the way a clinic's do, and the page says which way in words.
    from app.workspace.reputation_views import TERMS

    with app.app_context(), tenant_scope(tenant.id):
        origins = set(db.session.scalars(select(ExternalReview.origin).distinct()))
    assert origins and origins <= {"scrape", "csv", "paste"}, origins
    reviews = client.get("/c/demo/reputation/reviews").get_data(as_text=True)
    assert str(TERMS["csv"]) in reviews

    # Seeding again changes nothing.
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0 and _counts(app, tenant.id) == counts
