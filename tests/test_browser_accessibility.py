"""Accessibility: every page of the demo clinic, on a phone, checked by axe-core against WCAG 2.1 A and AA.

Patients of every age fill in the form on their own phones; staff read the workspace all day.
axe-core (bundled in the axe-playwright-python package, no network) runs inside the real page,
after its styles and scripts, so contrast, names, labels and keyboard access are judged as
a person meets them.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import select

from app.extensions import db
from tenants.context import platform_scope, tenant_scope

pytestmark = pytest.mark.browser

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
WORKSPACE_PAGES = [
    "", "journal", "cases", "dashboard", "dashboard/scorecards", "dashboard/segments", "dashboard/programme",
    "dashboard/report", "reputation", "reputation/reviews", "reputation/sources", "reputation/import", "points",
    "questionnaires", "privacy", "visits/imports", "digests", "digests/preview", "digests/preview?part=text",
    "settings/clinic", "settings/users",
    "settings/branches", "settings/doctors", "settings/consent", "settings/review-sites", "settings/programme",
    "settings/notifications", "settings/licence", "settings/access-log", "settings/api-keys", "settings/webhooks",
    "settings/security",
]


def _problems(axe, page, label: str) -> list[str]:
    violations = axe.run(page, options=WCAG).response["violations"]
    return [f"{label}: {v['id']} ({v['impact']}) at {v['nodes'][0]['target']}: {v['help']}" for v in violations]


# A cell given a layout of its own (display: flex on a <td>) stops being a table cell: its borders and
# height no longer follow its row's. On a phone, a stacked table turns every cell of a row alike.
ROWS_WITH_ODD_CELLS = """[...document.querySelectorAll('tr')].filter(row => {
  const kinds = new Set([...row.cells].map(cell => getComputedStyle(cell).display).filter(shown => shown != 'none'));
  return kinds.size > 1;
}).map(row => row.innerText.slice(0, 60))"""


# Nothing scrolls sideways, tables included: on a phone a wide table is one card per row (table.stacked).
TABLES_WIDER_THAN_THEIR_BOX = """[...document.querySelectorAll('.table-wrap')]
  .filter(wrap => wrap.scrollWidth > wrap.clientWidth + 1)
  .map(wrap => `${(wrap.querySelector('caption, th') || wrap).innerText.slice(0, 40)}: ${wrap.scrollWidth} px in ${wrap.clientWidth} px`)"""


def _layout_problems(page, label: str) -> list[str]:
    return [f"{label}: a table row whose cells are laid out differently: {row!r}"
            for row in page.evaluate(ROWS_WITH_ODD_CELLS)] + \
        [f"{label}: a table scrolls sideways ({size})" for size in page.evaluate(TABLES_WIDER_THAN_THEIR_BOX)]


@contextmanager
def _audited_tab(chromium, live_server, locale: str, width: int):
    """A browser tab and ``check(label)``, which runs axe on the page shown and looks over its tables; the
    test fails on any violation found, and on anything the pages' Content-Security-Policy refused."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.conftest import refused_by_csp

    axe = Axe()
    context = chromium.new_context(base_url=live_server, locale=locale, viewport={"width": width, "height": 800})
    refused = refused_by_csp(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    try:
        yield page, lambda label: problems.extend(_problems(axe, page, label) + _layout_problems(page, label))
    finally:
        context.close()
    assert not refused, refused[:3]
    assert not problems, "\n".join(problems)


def _sign_in(page, check, login_path: str, email: str, password: str, landing: str) -> None:
    """Check the login page, then sign in through it."""
    page.goto(login_path)
    check(login_path)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(landing)


@pytest.fixture
def demo(app, runner):
    seeded = runner.invoke(args=["demo", "seed"])
    assert seeded.exit_code == 0, seeded.output
    from app.models import Case, CollectionPoint, Questionnaire, Response, Tenant
    from tests.factories import make_digest_message

    with app.app_context():
        with platform_scope():
            tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
    message = make_digest_message(app, tenant_id, body="Nothing at risk since the previous digest.")
    with app.app_context():
        with tenant_scope(tenant_id):
            return {"message": message,"case": db.session.scalar(select(Case.id).order_by(Case.id.desc())),
                    "response": db.session.scalar(select(Response.id).order_by(Response.id.desc())),
                    "point": db.session.scalar(select(CollectionPoint.id).order_by(CollectionPoint.id)),
                    "token": db.session.scalar(select(CollectionPoint.token).order_by(CollectionPoint.id)),
                    "questionnaire": db.session.scalar(select(Questionnaire.id))}


def test_every_page_passes_wcag_aa_on_a_phone(chromium, live_server, demo):
    with _audited_tab(chromium, live_server, "ru-RU", 375) as (page, check):
        # The patient's side: the questionnaire, its errors, the thank-you page, the clinic's widget.
        page.goto(f"/q/{demo['token']}")
        check("questionnaire")
        page.click("button[type=submit]")  # nothing answered: the form shows its errors
        check("questionnaire with errors")
        page.check("input[name=q_nps][value='9']", force=True)
        page.click("button[type=submit]")
        page.wait_for_url("**/thanks**")
        check("thank-you page")
        page.goto("/w/demo/reviews")
        check("reviews widget")
        # The manager's side: every page of the workspace, with a year of data in it.
        _sign_in(page, check, "/login", "manager@demo-clinic.local", "manager-demo-pass", "**/c/demo/**")
        pages = WORKSPACE_PAGES + [f"cases/{demo['case']}", f"journal/{demo['response']}",
                                   f"points/{demo['point']}", f"questionnaires/{demo['questionnaire']}",
                                   f"digests/messages/{demo['message']}", f"digests/messages/{demo['message']}?part=text"]
        for path in pages:
            page.goto(f"/c/demo/{path}")
            page.wait_for_load_state("networkidle")
            check(path)


@pytest.mark.parametrize("width", [1280, 375])
def test_operator_console_passes_wcag_aa(chromium, live_server, demo, width):
    with _audited_tab(chromium, live_server, "en-GB", width) as (page, check):
        _sign_in(page, check, "/platform/login", "operator@vernost.local", "operator-demo-pass", "**/platform/")
        for path in ("/platform/", "/platform/clinics/new", "/platform/audit", "/platform/operators",
                     "/platform/account/security"):
            page.goto(path)
            check(path)
        page.goto("/platform/")
        page.click("text=Клиника «Демо»")
        page.wait_for_load_state("networkidle")
        check("a clinic's page")
