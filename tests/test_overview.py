"""The workspace's first page: what waits for someone, the last day, the week, and the web reputation."""
from __future__ import annotations

import re
from datetime import timedelta

from app.extensions import db
from app.models import utcnow
from app.overview import clinic_overview
from tenants.context import tenant_scope
from tests.factories import make_response
from tests.test_api import add_reviews, grant_api

PHONE = "+7 999 123-45-67"


def stats(html: str) -> list[str]:
    """The big figures of the overview's cards, in order."""
    return re.findall(r'class="stat"[^>]*>([^<]+)<', html)


def test_the_overview_counts_the_last_day_and_the_week(app, tenant, other_tenant):
    now = utcnow()
    make_response(app, tenant.id, nps=3, risk_level="at_risk", open_case=True, submitted_at=now - timedelta(hours=2),
                  ratings={"waiting": 2})
    make_response(app, tenant.id, nps=2, risk_level="critical", open_case=True, submitted_at=now - timedelta(hours=5))
    make_response(app, tenant.id, nps=10, submitted_at=now - timedelta(hours=30), ratings={"doctor": 5})
    make_response(app, tenant.id, nps=9, submitted_at=now - timedelta(days=10))  # the week before
    # An old at-risk answer whose case is past its deadline.
    make_response(app, tenant.id, nps=1, risk_level="at_risk", open_case=True, submitted_at=now - timedelta(days=5))
    for _ in range(3):  # another clinic's answers count nowhere here
        make_response(app, other_tenant.id, nps=0, risk_level="critical", open_case=True)

    with app.app_context(), tenant_scope(tenant.id):
        overview = clinic_overview(None, now)
    assert (overview.day.answers, overview.day.at_risk, overview.day.critical, overview.day.callbacks) == (2, 2, 1, 1)
    assert (overview.cases.open, overview.cases.overdue) == (3, 1)
    assert [case.response.nps for case in overview.waiting_cases][0] == 1  # the overdue case comes first
    # Last 7 days: 1 promoter (10), 3 detractors (3, 2, 1) → NPS (1 - 3) / 4 = -50; the week before: 9 → 100.
    assert overview.nps_week.current == -50 and overview.nps_week.n_current == 4
    assert overview.nps_week.previous == 100 and overview.nps_week.delta == -150
    # CSAT: one satisfied rating (doctor 5) of two (waiting 2).
    assert overview.csat_week.current == 50 and overview.csat_week.n_current == 2
    assert overview.reputation["reviews"] == 0 and overview.negative_reviews == []


def test_the_first_page_shows_this_clinics_cases_without_contacts(app, tenant, other_tenant, manager_client):
    grant_api(app, tenant.id, modules=[])  # a licence without the reputation module
    now = utcnow()
    make_response(app, tenant.id, nps=2, risk_level="at_risk", open_case=True, comment="Долго ждали в регистратуре",
                  contact_phone=PHONE, submitted_at=now - timedelta(hours=1))
    make_response(app, other_tenant.id, nps=0, risk_level="critical", open_case=True, comment="Другая клиника")

    html = manager_client.get(tenant.url(""), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Долго ждали в регистратуре" in html and "Другая клиника" not in html
    # Contact details are for the journal, where reading them is logged.
    assert "123-45-67" not in html and "9991234567" not in html.replace(" ", "")
    assert stats(html)[:4] == ["1", "1", "-100", "—"]  # answers today, open cases, NPS, CSAT without ratings
    assert "Web reputation index" not in html  # not licensed: no card
    assert "No open cases" not in html


def test_a_quiet_clinic_says_so_and_shows_its_reputation(app, tenant, manager_client):
    html = manager_client.get(tenant.url(""), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No open cases: every answer at risk has been handled." in html
    assert "Web reputation index" in html and "New negative reviews" not in html

    add_reviews(app, tenant.id, [1])  # a new one-star review
    with app.app_context(), tenant_scope(tenant.id):
        from sqlalchemy import select

        from app.models import ExternalReview

        review = db.session.scalar(select(ExternalReview))
        review.text, review.sentiment_label = "Сорвали запись без предупреждения", "negative"
        db.session.commit()
    html = manager_client.get(tenant.url(""), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "New negative reviews on the web" in html and "Сорвали запись без предупреждения" in html


def test_the_first_page_is_in_russian_for_a_russian_reader(app, tenant, manager_client):
    make_response(app, tenant.id, nps=2, risk_level="at_risk", open_case=True)
    html = manager_client.get(tenant.url(""), headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Ответы за 24 часа" in html and "Ждут решения" in html and "В зоне риска: 1" in html


def test_a_change_of_csat_is_in_percentage_points(app, tenant, manager_client):
    now = utcnow()
    make_response(app, tenant.id, submitted_at=now - timedelta(hours=3), ratings={"doctor": 5, "waiting": 2})
    make_response(app, tenant.id, submitted_at=now - timedelta(days=9), ratings={"doctor": 2, "waiting": 2})
    ru = manager_client.get(tenant.url(""), headers={"Accept-Language": "ru"}).get_data(as_text=True)
    en = manager_client.get(tenant.url(""), headers={"Accept-Language": "en"}).get_data(as_text=True)
    # 50 % of this week's ratings satisfied against none the week before; NPS changes stay plain points.
    assert "+50&nbsp;п.\u00a0п.</span>" in ru
    assert "+50&nbsp;pp</span> against the 7 days before" in en
    assert en.count("pp</span>") == 1  # the NPS card's "±0" has no unit
