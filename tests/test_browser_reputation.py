"""Browser journey: a manager adds a review source, scrapes it, imports reviews and reads the index on a phone."""
from __future__ import annotations

import pytest

from jobs.worker import InlineAppWorker, build_worker
from tests.conftest import TEST_PASSWORD, save_screenshot
from tests.test_reputation_service import OWN_CONFIG, LoopbackSite, Reply, own_page

pytestmark = pytest.mark.browser


def test_manager_scrapes_imports_and_reads_the_index_on_a_phone(app, tenant, page, monkeypatch):
    import json

    monkeypatch.setitem(app.config, "REPUTATION_FETCH_DELAY", 0.0)
    with LoopbackSite() as site:
        site.routes["/clinic/reviews"] = Reply(200, own_page([
            ("r1", "Анна", 5, "Врач очень внимательный, всё объяснил."),
            ("r2", "Борис", 1, "Ждали в очереди два часа, администратор грубил."),
            ("r3", "Вера", 4, "Чисто, уютно, но цены высокие."),
        ]))
        page.set_viewport_size({"width": 360, "height": 740})
        page.goto(f"/login?next=/c/{tenant.slug}/reputation")
        page.fill("#email", tenant.owner_email)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"/c/{tenant.slug}/reputation/sources")
        page.fill("#url", site.url("/clinic/reviews"))
        page.fill("#label", "Отзывы на сайте-каталоге")
        page.click("summary")
        page.fill("#selector_config", json.dumps(OWN_CONFIG))
        page.click("form.card button[type=submit]")
        assert "Source added" in page.inner_text(".flash")
        # The sources table becomes one card per source: nothing to scroll sideways.
        assert page.evaluate("document.querySelector('.table-wrap').scrollWidth") <= \
            page.evaluate("document.querySelector('.table-wrap').clientWidth")
        assert page.locator("table.stacked thead").is_hidden()
        save_screenshot(page, "reputation-sources-phone")

        page.goto(f"/c/{tenant.slug}/reputation")
        page.click("text=Scrape now")
        page.wait_for_selector("#scrape-run[hx-trigger]")
        build_worker(app, ["scrape"], worker_class=InlineAppWorker).work(burst=True)
        # htmx polls the fragment and stops once the run is done.
        page.wait_for_selector("#scrape-run:not([hx-trigger])", timeout=10_000)
        assert "3 new reviews" in page.inner_text("#scrape-run")

        page.goto(f"/c/{tenant.slug}/reputation/import")
        page.fill("#pasted", "2025-02-01 | 2 | Олег\nРегистратура не берёт трубку.\n\nПрекрасная медсестра, спасибо!")
        page.click("form.card button[type=submit]")
        # Measured once the stylesheet has applied: the flash is in the DOM before the page has its layout.
        page.wait_for_load_state("load")
        assert "Imported 2 reviews" in page.inner_text(".flash")
        assert page.locator("svg.chart").count() == 1
        # The last 90 days hold only the review pasted without a date; all time, the scraped history too.
        assert page.locator("table.aspect-drivers tbody tr").count() == 1
        page.click("#aspect-window >> text=all time")
        page.wait_for_load_state("load")
        assert page.locator("table.aspect-drivers tbody tr").count() >= 2
        # Nothing spills sideways on a 360 px phone, nor scrolls sideways inside the page.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.evaluate("[...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth)")
        save_screenshot(page, "reputation-overview-phone")
        page.set_viewport_size({"width": 1280, "height": 800})
        save_screenshot(page, "reputation-overview-desktop")
        # On a laptop the branch and doctor fields stand side by side, their boxes level.
        page.goto(f"/c/{tenant.slug}/reputation/sources")
        branch, doctor = page.locator("#branch_id").bounding_box(), page.locator("#doctor_id").bounding_box()
        assert doctor["x"] > branch["x"] and abs(doctor["y"] - branch["y"]) < 1, (branch, doctor)
