"""Browser journeys: a patient on a 360 px phone answers by keyboard and touch; a poster prints on one page."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CollectionPoint, Response
from tenants.context import tenant_scope
from tests.conftest import TEST_PASSWORD, refused_by_csp, save_screenshot
from tests.feedback_helpers import point_token

pytestmark = pytest.mark.browser


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide at a 360px viewport"


def test_patient_answers_on_a_small_phone(app, tenant, chromium, live_server):
    token = point_token(app, tenant.id)
    from app.models import Tenant
    from tenants.settings import update_settings

    with app.app_context(), tenant_scope(tenant.id):
        update_settings(db.session.get(Tenant, tenant.id),
                        review_links=[{"name": "2GIS", "url": "https://2gis.example/clinic-alpha"},
                                      {"name": "Яндекс Карты", "url": "https://maps.example/clinic-alpha"}])
        db.session.commit()
    context = chromium.new_context(base_url=live_server, locale="en-GB", viewport={"width": 360, "height": 740},
                                   device_scale_factor=2, is_mobile=True, has_touch=True)
    refused = refused_by_csp(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"/q/{token}")
        assert "How was your visit?" in page.inner_text("h1")
        page.click("a[lang=ru]")
        page.wait_for_url(re.compile(r".*lang=ru"))
        assert page.inner_text("h1") == "Как прошёл ваш визит?"
        assert page.get_attribute("html", "lang") == "ru"
        _no_horizontal_scroll(page)

        # Keyboard: Tab reaches the NPS radios, space picks one, arrow keys move the choice.
        page.focus("a[lang=en]")
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.name") == "q_nps":
                break
        assert page.evaluate("document.activeElement.name") == "q_nps"
        page.keyboard.press("Space")
        assert page.evaluate("document.querySelector('input[name=q_nps]:checked').value") == "0"
        for _ in range(9):
            page.keyboard.press("ArrowRight")
        assert page.evaluate("document.querySelector('input[name=q_nps]:checked').value") == "9"
        assert page.evaluate("document.activeElement.value") == "9"

        # Touch the ratings and write a comment.
        page.tap("fieldset#f-rating_doctor label.pick:has(input[value='5'])")
        page.tap("fieldset#f-rating_waiting label.pick:has(input[value='3'])")
        page.fill("#in-comment", "Доктор внимательный, но пришлось подождать.")
        _no_horizontal_scroll(page)
        save_screenshot(page, "patient-form-360-ru")

        page.click("button.send")
        page.wait_for_url(re.compile(r".*/thanks.*"))
        assert page.inner_text("h1") == "Спасибо!"
        assert page.is_visible("a[href='https://2gis.example/clinic-alpha']")
        _no_horizontal_scroll(page)
        save_screenshot(page, "patient-thanks-360-ru")
    finally:
        context.close()
    assert not refused, refused[:3]

    with app.app_context(), tenant_scope(tenant.id):
        stored = db.session.scalar(select(Response))
        assert stored.language == "ru" and stored.nps == 9
        assert stored.answers["rating_doctor"] == 5 and stored.answers["rating_waiting"] == 3
        assert stored.comment == "Доктор внимательный, но пришлось подождать."


def test_poster_prints_on_one_page_of_a4_and_of_a5(app, tenant, page):
    with app.app_context(), tenant_scope(tenant.id):
        point_id = db.session.scalar(select(CollectionPoint.id))
    page.goto("/login")
    page.fill("#email", tenant.owner_email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/c/{tenant.slug}/")
    for size in ("a4", "a5"):
        page.goto(f"/c/{tenant.slug}/points/{point_id}/poster?size={size}")
        assert page.is_visible(".qr svg")
        save_screenshot(page, f"poster-{size}-screen")
        page.emulate_media(media="print")
        assert not page.is_visible(".toolbar")
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        page.emulate_media(media="screen")
        pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
        assert len(pages) == 1, f"{size} poster printed on {len(pages)} pages"
        box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        width_mm = float(box.group(1)) / 72 * 25.4
        assert abs(width_mm - {"a4": 210, "a5": 148}[size]) < 2


def test_go_back_on_an_error_page_returns_to_the_page_before(app, tenant, page):
    """Error pages carry no inline script (the CSP forbids it); their "Go back" still goes back."""
    token = point_token(app, tenant.id)
    page.goto(f"/q/{token}?lang=en")
    page.goto("/q/no-such-point?lang=en")
    assert "There is no such page here" in page.content()
    page.click("a[data-back]")
    page.wait_for_url(f"**/q/{token}?lang=en")
    assert page.locator("button[type=submit]").count() == 1


def test_patient_takes_back_consent_then_deletes_the_feedback_on_a_phone(app, tenant, chromium, live_server):
    """From the thank-you page's link, at 360 px, each page checked by axe against WCAG 2.1 AA."""
    from axe_playwright_python.sync_playwright import Axe

    axe, problems = Axe(), []

    def check(label):
        violations = axe.run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}})
        problems.extend(f"{label}: {v['id']}: {v['help']}" for v in violations.response["violations"])
        _no_horizontal_scroll(page)

    token = point_token(app, tenant.id)
    context = chromium.new_context(base_url=live_server, locale="ru-RU", viewport={"width": 360, "height": 740},
                                   is_mobile=True, has_touch=True)
    refused = refused_by_csp(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"/q/{token}")
        page.tap("label.pick:has(input[name=q_nps][value='4'])")
        page.fill("input[name=contact_name]", "Мария Иванова")
        page.fill("input[name=contact_phone]", "+7 916 555-44-33")
        page.check("input[name=consent]")
        page.click("button.send")
        page.wait_for_url(re.compile(r".*/thanks.*"))
        check("thank-you page with the link")
        page.click("#status-link")
        page.wait_for_url(re.compile(r".*/s/[^/]+$"))
        assert "М***" in page.inner_text("#your-data") and "*** 33" in page.inner_text("#your-data")
        check("the patient's page")
        save_screenshot(page, "patient-own-link-360-ru")

        page.check("#your-data input[name=confirm]")
        page.click("#your-data button[type=submit]")
        page.wait_for_url(re.compile(r".*done=withdrawn"))
        assert "Согласие отозвано" in page.inner_text("main")
        assert "Вы отозвали согласие" in page.inner_text("#consent-state")
        check("after withdrawing")

        page.check("form[action$='/delete'] input[name=confirm]")
        page.click("form[action$='/delete'] button[type=submit]")
        page.wait_for_selector("#deleted-text")
        assert page.inner_text("h1") == "Ваш отзыв удалён"
        check("after deleting")
        save_screenshot(page, "patient-deleted-360-ru")
    finally:
        context.close()
    assert not refused, refused[:3]
    assert not problems, "\n".join(problems)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(Response)) is None
