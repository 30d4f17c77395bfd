"""Browser journey: a manager previews the next digest, formatted and as plain text, on a laptop and a phone,
then reads the digest as it was sent."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.conftest import TEST_PASSWORD, save_screenshot
from tests.digest_helpers import add_response
from tests.smtp_sink import smtp_sink  # noqa: F401  (fixture)


def test_manager_previews_the_next_digest_then_reads_it_as_sent(app, tenant, other_tenant, page, smtp_sink):
    now = datetime.now(timezone.utc)  # inside the next digest's period whatever the time of day
    add_response(app, tenant.id, submitted_at=now, risk="critical", nps=1, urgent=True,
                 comment="Nobody called back about the test results", phone="+7 900 555-01-02")
    add_response(app, other_tenant.id, submitted_at=now, risk="critical", nps=0,
                 comment="BETA-SECRET complaint")
    page.goto("/login")
    page.fill("#email", tenant.owner_email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.goto(tenant.url("digests"))
    page.click("text=Preview the next digest")
    page.wait_for_url("**/digests/preview")
    assert page.locator("h1").inner_text() == "Next digest"
    mail = page.frame_locator("iframe.digest-frame")
    assert "Nobody called back about the test results" in mail.locator("body").inner_text()
    assert "+7 900 555-01-02" in mail.locator("body").inner_text()
    assert "BETA-SECRET" not in mail.locator("body").inner_text() + page.content()
    save_screenshot(page, "digest-preview-laptop")
    # The mail's links open the workspace in a new tab: the workspace itself may not be framed.
    link = mail.locator("a", has_text="Open in the journal").first
    assert link.get_attribute("href").startswith(f"http://localhost{tenant.url('journal/')}")  # the BASE_URL
    with page.expect_popup() as opened:
        link.click()
    opened.value.close()
    assert page.url.endswith("/digests/preview")

    page.click("text=Русский")
    page.wait_for_url("**/digests/preview?lang=ru")
    assert "Сводка рисков за" in mail.locator("body").inner_text()
    page.set_viewport_size({"width": 360, "height": 740})
    page.click("text=Plain-text part")
    page.wait_for_url("**/digests/preview?lang=ru&part=text")
    text = page.locator("pre").inner_text()
    assert "ЧТО СДЕЛАТЬ" in text and "Nobody called back" in text
    # Long lines (links) wrap: the page never scrolls sideways on a phone.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    save_screenshot(page, "digest-preview-phone")

    sent = app.test_cli_runner().invoke(args=["digest", "send", "--tenant", tenant.slug])
    assert sent.exit_code == 0 and len(smtp_sink.messages) == 1, sent.output
    page.goto(tenant.url("digests"))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360  # the table scrolls inside its box
    page.click("a:has-text('Read')")
    page.wait_for_url("**/digests/messages/*")
    assert "Nobody called back about the test results" in mail.locator("body").inner_text()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    save_screenshot(page, "digest-sent-phone")
