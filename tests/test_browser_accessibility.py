"""Accessibility: every page of the demo clinic, on a phone, checked by axe-core against WCAG 2.1 A and AA.

Patients of every age fill in the form on their own phones; staff read the workspace all day.
axe-core (bundled in the axe-playwright-python package, no network) runs inside the real page,
after its styles and scripts, so contrast, names, labels and keyboard access are judged as
a person meets them.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from tenants.context import platform_scope, tenant_scope

pytestmark = pytest.mark.browser

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
WORKSPACE_PAGES = [
    "journal", "cases", "dashboard", "dashboard/scorecards", "dashboard/segments", "dashboard/programme",
    "dashboard/report", "reputation", "reputation/reviews", "reputation/sources", "reputation/import", "points",
    "questionnaires", "privacy", "visits/imports", "digests", "settings/clinic", "settings/users",
    "settings/branches", "settings/doctors", "settings/consent", "settings/review-sites", "settings/programme",
    "settings/notifications", "settings/licence", "settings/access-log",
]


def _problems(axe, page, label: str) -> list[str]:
    violations = axe.run(page, options=WCAG).response["violations"]
    return [f"{label}: {v['id']} ({v['impact']}) at {v['nodes'][0]['target']}: {v['help']}" for v in violations]


@pytest.fixture
def demo(app, runner):
    seeded = runner.invoke(args=["demo", "seed"])
    assert seeded.exit_code == 0, seeded.output
    from app.models import Case, CollectionPoint, Questionnaire, Response, Tenant

    with app.app_context():
        with platform_scope():
            tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        with tenant_scope(tenant_id):
            return {"case": db.session.scalar(select(Case.id).order_by(Case.id.desc())),
                    "response": db.session.scalar(select(Response.id).order_by(Response.id.desc())),
                    "point": db.session.scalar(select(CollectionPoint.id).order_by(CollectionPoint.id)),
                    "token": db.session.scalar(select(CollectionPoint.token).order_by(CollectionPoint.id)),
                    "questionnaire": db.session.scalar(select(Questionnaire.id))}


def test_every_page_passes_wcag_aa_on_a_phone(chromium, live_server, demo):
    from axe_playwright_python.sync_playwright import Axe

    from tests.conftest import refused_by_csp

    axe = Axe()
    context = chromium.new_context(base_url=live_server, locale="ru-RU", viewport={"width": 375, "height": 740})
    refused = refused_by_csp(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    try:
        # The patient's side: the questionnaire, its errors, the thank-you page, the clinic's widget.
        page.goto(f"/q/{demo['token']}")
        problems += _problems(axe, page, "questionnaire")
        page.click("button[type=submit]")  # nothing answered: the form shows its errors
        problems += _problems(axe, page, "questionnaire with errors")
        page.check("input[name=q_nps][value='9']", force=True)
        page.click("button[type=submit]")
        page.wait_for_url("**/thanks**")
        problems += _problems(axe, page, "thank-you page")
        page.goto("/w/demo/reviews")
        problems += _problems(axe, page, "reviews widget")
        # The manager's side: every page of the workspace, with a year of data in it.
        page.goto("/login")
        problems += _problems(axe, page, "login")
        page.fill("input[name=email]", "manager@demo-clinic.local")
        page.fill("input[name=password]", "manager-demo-pass")
        page.click("button[type=submit]")
        page.wait_for_url("**/c/demo/**")
        pages = WORKSPACE_PAGES + [f"cases/{demo['case']}", f"journal/{demo['response']}",
                                   f"points/{demo['point']}", f"questionnaires/{demo['questionnaire']}"]
        for path in pages:
            page.goto(f"/c/demo/{path}")
            page.wait_for_load_state("networkidle")
            problems += _problems(axe, page, path)
    finally:
        context.close()
    assert not refused, refused[:3]
    assert not problems, "\n".join(problems)


def test_operator_console_passes_wcag_aa(chromium, live_server, demo):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    context = chromium.new_context(base_url=live_server, locale="en-GB", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    try:
        page.goto("/platform/login")
        problems += _problems(axe, page, "operator login")
        page.fill("input[name=email]", "operator@vernost.local")
        page.fill("input[name=password]", "operator-demo-pass")
        page.click("button[type=submit]")
        page.wait_for_url("**/platform/")
        for path in ("/platform/", "/platform/clinics/new", "/platform/audit"):
            page.goto(path)
            problems += _problems(axe, page, path)
        page.goto("/platform/")
        page.click("text=Клиника «Демо»")
        page.wait_for_load_state("networkidle")
        problems += _problems(axe, page, "a clinic's page")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
