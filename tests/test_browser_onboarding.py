"""Browser journey: an operator onboards a clinic; its owner accepts and lands in the workspace."""
from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD, save_screenshot

pytestmark = pytest.mark.browser


def test_operator_onboards_and_owner_lands_in_workspace(page, operator, live_server):
    page.goto("/platform/login")
    page.fill("#email", operator)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/platform/")
    page.click("text=Onboard a clinic")
    page.fill("#name", "Северная клиника")
    page.fill("#slug", "severnaya")
    page.fill("#owner_email", "owner@severnaya.test")
    page.select_option("#plan", "standard")
    page.fill("#timezone", "Europe/Moscow")
    page.click("button[type=submit]")
    invitation = page.inner_text("#invitation-url")
    assert invitation.startswith("http://localhost/c/severnaya/invite/")
    save_screenshot(page, "onboarding-operator")

    owner = page.context.browser.new_context(base_url=live_server, locale="ru-RU")
    owner_page = owner.new_page()
    owner_page.goto(invitation.replace("http://localhost", live_server))
    owner_page.fill("#full_name", "Мария Соколова")
    owner_page.fill("#password", "a-strong-password")
    owner_page.fill("#password_confirm", "a-strong-password")
    owner_page.click("button[type=submit]")
    owner_page.wait_for_url("**/c/severnaya/")
    assert owner_page.inner_text("h1") == "Северная клиника"
    assert "Добро пожаловать" in owner_page.inner_text(".flash")
    assert "Мария Соколова" in owner_page.inner_text("header")
    save_screenshot(owner_page, "onboarding-owner-workspace")
    # The invitation cannot be used twice.
    owner_page.goto(invitation.replace("http://localhost", live_server))
    assert "уже" in owner_page.inner_text("main") or "already" in owner_page.inner_text("main")
    owner.close()
