"""Browser journey: a manager reads the dashboards on a laptop and on a 360 px phone."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.conftest import TEST_PASSWORD, save_screenshot
from tests.factories import make_branch, make_doctor
from tests.test_analytics import add_responses, import_text


def _year_of_data(app, clinic_id: int) -> None:
    from app.analytics.refresh import full_recompute
    from app.extensions import db
    from app.models import Tenant
    from tenants.context import tenant_scope

    doctor = make_doctor(app, clinic_id, "Dr House")
    branch = make_branch(app, clinic_id, "North")
    rows = []
    for month in range(1, 13):
        for i in range(40):
            # NPS improves through the year: more promoters each month.
            score = 10 if i < 14 + month else (8 if i < 30 else 3)
            rows.append({"nps": score, "doctor_id": doctor, "branch_id": branch,
                         "at": datetime(2025, month, 1 + i % 27, 9, tzinfo=timezone.utc),
                         "ratings": {"waiting": 3 + i % 3, "doctor": 4 + i % 2}, "would_return": i % 4 != 0,
                         "sentiment": 0.4 if score > 8 else -0.3, "comment": "Спасибо" if score > 8 else "Долго ждали"})
    add_responses(app, clinic_id, rows)
    lines = ["patient,date,doctor,service,amount,gender,birth_year"]
    for p in range(60):
        for month in range(1, 13):
            if (p + month) % 3:
                lines.append(f"P{p},2025-{month:02d}-{1 + p % 27:02d},Dr House,service{(p + month) % 4},"
                             f"{1000 + 10 * p},{'FM'[p % 2]},{1950 + p % 50}")
    import_text(app, clinic_id, "\n".join(lines) + "\n")
    with app.app_context(), tenant_scope(clinic_id):
        full_recompute(db.session.get(Tenant, clinic_id))


def _login(page, tenant):
    page.goto("/login")
    page.fill("#email", tenant.owner_email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")


def test_dashboards_on_laptop_and_phone(app, tenant, page):
    _year_of_data(app, tenant.id)
    _login(page, tenant)
    page.goto(tenant.url("dashboard?period=2025-12"))
    assert page.locator("h1").inner_text().startswith("Loyalty overview")
    assert page.locator("svg.chart[role=img]").count() >= 5
    save_screenshot(page, "dashboard-laptop")
    page.click("text=Scorecards")
    page.wait_for_url("**/dashboard/scorecards?period=2025-12")
    assert page.locator("table.scores").first.is_visible()
    save_screenshot(page, "dashboard-scorecards-laptop")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(tenant.url("dashboard?period=2025-12"))
    # Nothing wider than the phone: the page never scrolls sideways (tables scroll inside their wrappers).
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    save_screenshot(page, "dashboard-phone")
    # A doctor's scorecard is a card of its own on a phone: every figure named, nothing to scroll sideways.
    page.goto(tenant.url("dashboard/scorecards?period=2025-12"))
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")
    assert page.locator("table.scores thead").first.is_hidden()
    assert page.locator("table.scores td[data-label]").first.evaluate(
        "td => getComputedStyle(td, '::before').content").startswith('"NPS')
    save_screenshot(page, "dashboard-scorecards-phone")
    page.goto(tenant.url("dashboard/segments?kind=age_band&period=2025-12"))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    # Segments too: one card per segment, its nine figures named.
    assert page.locator(".table-wrap").first.evaluate("w => w.scrollWidth <= w.clientWidth")
    assert page.locator("table.stacked td[data-label]").count() >= 8
    page.goto(tenant.url("dashboard/report?period=2025-Q4"))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    save_screenshot(page, "report-phone")
    # The period form works without JavaScript: a plain GET.
    page.goto(tenant.url("dashboard?period=2025-12"))
    page.fill("#period", "2025-Q3")
    page.click("form.period-form button[type=submit]")
    page.wait_for_url("**/dashboard?period=2025-Q3")
    assert "2025-Q3" in page.locator("h1").inner_text()
