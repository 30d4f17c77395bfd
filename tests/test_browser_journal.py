"""Browser journeys: the open journal shows a patient's new response without reload; it survives a lost connection."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, Response
from tenants.context import tenant_scope
from tests.conftest import TEST_PASSWORD, refused_by_csp, save_screenshot
from tests.factories import make_response
from tests.feedback_helpers import point_token

pytestmark = pytest.mark.browser


def _log_in(page, tenant):
    page.goto("/login")
    page.fill("#email", tenant.owner_email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/c/{tenant.slug}/")


def _patient_submits(chromium, live_server, token, nps: str, comment: str) -> float:
    """A patient in their own browser answers; returns the monotonic time the submission was stored."""
    context = chromium.new_context(base_url=live_server, locale="en-GB")
    patient = context.new_page()
    patient.set_default_timeout(10_000)
    try:
        patient.goto(f"/q/{token}?lang=en")
        patient.click(f"input[name=q_nps][value='{nps}']", force=True)
        patient.fill("#in-comment", comment)
        with patient.expect_response(lambda r: r.request.method == "POST" and "/q/" in r.url):
            patient.click("button.send")
        stored_at = time.monotonic()
        patient.wait_for_url(re.compile(r".*/thanks.*"))
        return stored_at
    finally:
        context.close()


def test_new_response_appears_in_the_open_journal_within_two_seconds(app, tenant, page, chromium, live_server):
    make_response(app, tenant.id, comment="An earlier visit")
    token = point_token(app, tenant.id)
    _log_in(page, tenant)
    page.goto(f"/c/{tenant.slug}/journal")
    assert page.is_visible("text=An earlier visit")
    page.evaluate("window.__notReloaded = true")

    stored_at = _patient_submits(chromium, live_server, token, "3", "The waiting room was freezing")
    page.wait_for_selector("article.entry.fresh:has-text('The waiting room was freezing')", timeout=2000)
    delay = time.monotonic() - stored_at
    assert delay < 2.0, f"the entry appeared {delay:.2f}s after submission"
    assert page.evaluate("window.__notReloaded") is True
    first = page.locator("article.entry").first
    assert "The waiting room was freezing" in first.inner_text()
    assert "at risk" in first.inner_text() and "Case" in first.inner_text()
    save_screenshot(page, "journal-live-new-entry")


def test_journal_says_when_the_connection_drops_and_catches_up_without_duplicates(app, tenant, page, chromium,
                                                                                  live_server):
    token = point_token(app, tenant.id)
    _log_in(page, tenant)
    page.goto(f"/c/{tenant.slug}/journal")
    _patient_submits(chromium, live_server, token, "10", "Before the outage")
    page.wait_for_selector("article.entry:has-text('Before the outage')", timeout=3000)

    page.context.set_offline(True)
    page.wait_for_selector(".live-status.lost", timeout=5000)
    assert "Connection lost" in page.inner_text("#live-status")
    save_screenshot(page, "journal-connection-lost")
    _patient_submits(chromium, live_server, token, "9", "During the outage one")
    _patient_submits(chromium, live_server, token, "8", "During the outage two")
    page.context.set_offline(False)
    page.wait_for_selector("article.entry:has-text('During the outage two')", timeout=5000)
    page.wait_for_selector("article.entry:has-text('During the outage one')", timeout=2000)
    page.wait_for_function("!document.querySelector('.live-status').classList.contains('lost')", timeout=5000)
    with app.app_context(), tenant_scope(tenant.id):
        ids = db.session.scalars(select(Response.id).order_by(Response.id.desc())).all()
    shown = [int(x) for x in page.eval_on_selector_all("article.entry", "els => els.map(e => e.dataset.id)")]
    assert shown == ids  # every response once, newest first


def test_journal_and_case_pages_fit_a_small_phone(app, tenant, chromium, live_server):
    make_response(app, tenant.id, nps=2, risk_level="critical", comment="Nobody called me back after the MRI. " * 3,
                  contact_phone="+7 900 123-45-67", ratings={"doctor": 2, "waiting": 1, "staff": 3}, open_case=True)
    make_response(app, tenant.id, nps=10, comment="Wonderful nurses")
    context = chromium.new_context(base_url=live_server, locale="en-GB", viewport={"width": 360, "height": 740},
                                   device_scale_factor=2, is_mobile=True, has_touch=True)
    refused = refused_by_csp(context)
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    try:
        _log_in(phone, tenant)
        for path, name in (("journal", "journal-360"), ("cases", "cases-360")):
            phone.goto(f"/c/{tenant.slug}/{path}")
            width = phone.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 360, f"{path} is {width}px wide"
            save_screenshot(phone, name)
        phone.goto(f"/c/{tenant.slug}/journal")
        phone.click("text=Show contact details")
        phone.wait_for_selector("a[href^='tel:']")
        phone.click("article.entry.risk-critical a.entry-time")
        phone.click("text=Open the case")
        phone.wait_for_load_state("load")  # measured with the stylesheet applied
        assert phone.evaluate("document.scrollingElement.scrollWidth") <= 360
        save_screenshot(phone, "case-360")
    finally:
        context.close()
    assert not refused, refused[:3]


def test_a_case_status_change_redraws_the_entry_in_the_open_journal(app, tenant, page):
    response_id = make_response(app, tenant.id, nps=2, comment="Nobody called back", risk_level="at_risk",
                                open_case=True)
    with app.app_context(), tenant_scope(tenant.id):
        case_id = db.session.scalar(select(Case.id).where(Case.response_id == response_id))
    _log_in(page, tenant)
    page.goto(f"/c/{tenant.slug}/journal")
    assert "Case: new" in page.inner_text(f"#r-{response_id}")
    page.evaluate("window.__notReloaded = true")

    colleague = page.context.new_page()  # the same manager in another tab, or a colleague
    colleague.goto(f"/c/{tenant.slug}/cases/{case_id}")
    colleague.select_option("#c-status", "in_progress")
    colleague.click("form:has(#c-status) button[type=submit]")
    colleague.wait_for_selector(".flash")
    colleague.close()

    page.wait_for_selector(f"#r-{response_id}:has-text('Case: in progress')", timeout=3000)
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("article.entry").count() == 1  # redrawn in place, not added again


def test_a_click_after_the_session_ended_opens_the_login_page_not_a_fragment_of_it(app, tenant, page):
    for n in range(30):
        make_response(app, tenant.id, comment=f"Visit {n}")
    _log_in(page, tenant)
    page.goto(f"/c/{tenant.slug}/journal?comment=yes")
    page.context.clear_cookies()  # logged out elsewhere, or the session ran out
    page.click("text=Older responses")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    assert page.url.endswith(f"/login?next=/c/{tenant.slug}/journal?comment%3Dyes")
    assert page.locator("#load-more form, #load-more input[name=password]").count() == 0
    assert page.locator("input[name=password]").count() == 1  # one login form: the page, not a pasted copy
    page.fill("#email", tenant.owner_email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/c/{tenant.slug}/journal?comment=yes")
