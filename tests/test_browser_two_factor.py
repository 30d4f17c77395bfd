"""Two-factor login in a real browser on a phone: a manager sets it up by reading the key off the
page, as an authenticator app would from the QR code, keeps the recovery codes, and logs in again
with the password and a code. Every page on the way is checked by axe for WCAG 2.1 AA."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from tests.test_browser_accessibility import _audited_tab, _sign_in, demo  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


def test_a_manager_sets_up_two_factor_login_on_a_phone_and_logs_in_with_a_code(chromium, live_server, demo):  # noqa: F811
    with _audited_tab(chromium, live_server, "ru-RU", 375) as (page, check):
        _sign_in(page, check, "/login", "manager@demo-clinic.local", "manager-demo-pass", "**/c/demo/**")
        page.goto("/c/demo/settings/security")
        page.click("button[value=start]")
        page.wait_for_selector("#totp-secret")
        assert page.locator(".qr-small svg").is_visible()
        check("set-up with the QR code")
        secret = page.inner_text("#totp-secret").replace(" ", "")
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.fill("input[name=password]", "manager-demo-pass")
        page.click("button[value=confirm]")
        page.wait_for_selector("#recovery-codes")
        check("recovery codes")
        codes = page.locator(".recovery-codes code").all_inner_texts()
        assert len(codes) == 10
        # Nothing on the phone's narrow screen runs off to the side.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        page.click("text=Выйти")
        page.wait_for_url("**/login")
        page.fill("input[name=email]", "manager@demo-clinic.local")
        page.fill("input[name=password]", "manager-demo-pass")
        page.click("button[type=submit]")
        page.wait_for_url("**/login/code")
        check("login code")
        # The code of the step after the one used at set-up (accepted within one step of drift).
        page.fill("input[name=code]", pyotp.TOTP(secret).at(datetime.now(timezone.utc) + timedelta(seconds=30)))
        page.click("button[type=submit]")
        page.wait_for_url("**/c/demo/")
        assert page.locator("h1").first.inner_text() == "Клиника «Демо»"
