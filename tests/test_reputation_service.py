"""Web reputation wired into the product: scraping jobs against loopback servers, dedup, imports,
snapshots, the workspace pages, the nightly fan-out and the licence gate."""
from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ExternalReview, Licence, ReputationSnapshot, ReviewSource, ScrapeRun
from jobs.outbox import flush_outbox
from jobs.worker import InlineAppWorker, build_worker
from tenants.context import platform_scope, tenant_scope
from tests.conftest import REVIEW_PAGES, form_token, make_clinic, needs_review_pages
from tests.loopback_site import LoopbackSite, Reply



# --------------------------------------------------------------------------- a loopback review site


@pytest.fixture
def site():
    with LoopbackSite() as server:
        server.routes["/robots.txt"] = Reply(200, b"User-agent: *\nDisallow: /private/\n",
                                             {"Content-Type": "text/plain"})
        yield server


@pytest.fixture
def fast_fetch(app, monkeypatch):
    """No politeness delays in tests (the fetcher's own tests check the spacing)."""
    monkeypatch.setitem(app.config, "REPUTATION_FETCH_DELAY", 0.0)
    monkeypatch.setitem(app.config, "REPUTATION_RETRY_BACKOFF", 0.01)
    monkeypatch.setitem(app.config, "REPUTATION_FETCH_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "REPUTATION_FETCH_RETRIES", 2)
    monkeypatch.setitem(app.config, "REPUTATION_MAX_PAGES", 10)


def saved(name: str) -> bytes:
    return (REVIEW_PAGES / name).read_bytes()


def ground_truth() -> dict:
    return json.loads((REVIEW_PAGES / "ground_truth.json").read_text())


def own_page(reviews: list[tuple[str, str, int, str]], next_href: str | None = None) -> bytes:
    """A small review page of a site without built-in support (read with a selector config)."""
    cards = "".join(f'<div class="rv" data-id="{rid}"><span class="a">{author}</span><span class="d">2025-03-0{i % 9 + 1}</span>'
                    f'<span class="r" data-v="{stars}"></span><p class="t">{text}</p></div>'
                    for i, (rid, author, stars, text) in enumerate(reviews))
    nav = f'<a class="next" href="{next_href}">next</a>' if next_href else ""
    return f"<html><body><h1>Clinic</h1>{cards}{nav}</body></html>".encode()


OWN_CONFIG = {"review": ".rv", "id": [{"attr": "data-id"}], "author": ".a", "date": ".d",
              "rating": {"select": ".r", "attr": "data-v"}, "text": ".t", "next_page": "a.next"}


def add_source(app, clinic_id: int, url: str, **fields) -> int:
    with app.app_context(), tenant_scope(clinic_id):
        source = ReviewSource(url=url, **fields)
        db.session.add(source)
        db.session.commit()
        return source.id


def run_scrape_job(app, clinic_id: int, trigger: str = "manual") -> int:
    """Start a run the way the workspace does (row committed, outbox flushed) and work the queue."""
    from app.reputation.service import start_scrape_run

    with app.app_context():
        with tenant_scope(clinic_id):
            run = start_scrape_run(trigger)
            db.session.commit()
            run_id, job_id = run.id, run.job_id
        assert job_id.startswith(f"t{clinic_id}-")
        assert flush_outbox([job_id]) == 1
    build_worker(app, ["scrape"], worker_class=InlineAppWorker).work(burst=True)
    return run_id


def clinic_state(app, clinic_id: int):
    with app.app_context(), tenant_scope(clinic_id):
        sources = {s.id: (s.status, s.last_error) for s in db.session.scalars(select(ReviewSource))}
        reviews = db.session.scalar(select(func.count()).select_from(ExternalReview))
        runs = [(r.status, r.sources_total, r.sources_done, r.sources_failed, r.reviews_new)
                for r in db.session.scalars(select(ScrapeRun).order_by(ScrapeRun.id))]
        return sources, reviews, runs


# --------------------------------------------------------------------------- scraping jobs


@needs_review_pages
def test_a_doctors_page_added_without_the_doctor_is_linked_to_the_doctor_it_names(app, tenant, site, fast_fetch):
    from tests.factories import make_branch, make_doctor

    name = "prodoctorov/vidnoe-tsukanova-reviews.html"
    vidnoe = make_branch(app, tenant.id, "Видное")
    tsukanova = make_doctor(app, tenant.id, "Цуканова Ольга Владимировна", branch_id=vidnoe)
    make_doctor(app, tenant.id, "Цуканова Мария Ивановна")
    site.routes["/doctor"] = Reply(200, saved(name), {"Content-Type": "text/html"})
    site.routes["/clinic"] = Reply(200, saved("ratemds/dentist-pada-kelowna-bc.html"), {"Content-Type": "text/html"})
    doctor_page = add_source(app, tenant.id, site.url("/doctor"))
    other_page = add_source(app, tenant.id, site.url("/clinic"))  # names nobody of this clinic
    run_scrape_job(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        # Her page counts for the branch she works at, too.
        assert (db.session.get(ReviewSource, doctor_page).doctor_id,
                db.session.get(ReviewSource, doctor_page).branch_id) == (tsukanova, vidnoe)
        assert db.session.get(ReviewSource, other_page).doctor_id is None
        assert db.session.get(ReviewSource, other_page).branch_id is None
        by_doctor = dict(db.session.execute(select(ExternalReview.source_id, func.count())
                                            .where(ExternalReview.doctor_id == tsukanova,
                                                   ExternalReview.branch_id == vidnoe)
                                            .group_by(ExternalReview.source_id)).all())
        # The first read's reviews already count for her and her branch.
        assert by_doctor == {doctor_page: ground_truth()[name]["review_count"]}
        # The manager says it is nobody's page: later reads leave it so.
        db.session.get(ReviewSource, doctor_page).doctor_id = None
        db.session.commit()
    site.routes["/doctor"] = Reply(200, saved(name) + b"<!-- changed -->", {"Content-Type": "text/html"})
    run_scrape_job(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(ReviewSource, doctor_page).doctor_id is None


@needs_review_pages
def test_scrape_job_reads_saved_pages_then_rescrape_adds_nothing(app, tenant, other_tenant, site, fast_fetch):
    truth = ground_truth()
    names = ["prodoctorov/vidnoe-tsukanova-reviews.html", "ratemds/dentist-pada-kelowna-bc.html"]
    ids = []
    for i, name in enumerate(names):
        site.routes[f"/p{i}"] = Reply(200, saved(name), {"Content-Type": "text/html"})
        ids.append(add_source(app, tenant.id, site.url(f"/p{i}")))
    run_scrape_job(app, tenant.id)
    sources, reviews, runs = clinic_state(app, tenant.id)
    expected = sum(truth[name]["review_count"] for name in names)
    assert reviews == expected
    assert runs == [("done", 2, 2, 0, expected)]
    assert all(status == "ok" for status, _ in sources.values()), sources
    with app.app_context(), tenant_scope(tenant.id):
        by_site = dict(db.session.execute(select(ExternalReview.site, func.count()).group_by(ExternalReview.site)).all())
        assert by_site == {"prodoctorov": truth[names[0]]["review_count"], "ratemds": truth[names[1]]["review_count"]}
        # Every review is labelled; the ones with text have a polarity.
        unlabelled = db.session.scalar(select(func.count()).select_from(ExternalReview)
                                       .where(ExternalReview.sentiment_label.is_(None)))
        assert unlabelled == 0
        snapshot = db.session.scalar(select(ReputationSnapshot).where(ReputationSnapshot.scope == "clinic"))
        assert snapshot is not None and 50 < snapshot.value <= 100
        assert db.session.scalar(select(func.count()).select_from(ReputationSnapshot)
                                 .where(ReputationSnapshot.scope == "source")) == 2
    # The other clinic saw nothing.
    assert clinic_state(app, other_tenant.id)[1] == 0

    # Same bytes again: unchanged, nothing new.
    run_scrape_job(app, tenant.id)
    sources, reviews, runs = clinic_state(app, tenant.id)
    assert reviews == expected and runs[-1] == ("done", 2, 2, 0, 0)
    assert all(status == "not_modified" for status, _ in sources.values())

    # Changed bytes, same reviews: re-extracted, deduplicated by key.
    for i, name in enumerate(names):
        site.routes[f"/p{i}"] = Reply(200, saved(name) + b"<!-- changed -->", {"Content-Type": "text/html"})
    run_scrape_job(app, tenant.id)
    sources, reviews, runs = clinic_state(app, tenant.id)
    assert reviews == expected and runs[-1] == ("done", 2, 2, 0, 0)
    assert all(status == "ok" for status, _ in sources.values())


def test_a_category_list_of_many_clinics_adds_no_reviews_and_says_why(app, tenant, manager_client, site,
                                                                     fast_fetch):
    """Zoon's list of a district's polyclinics carries other clinics' reviews: none may count as this one's."""
    site.routes["/list"] = Reply(200, saved("zoon/krasnodar-polikliniki-list.html"), {"Content-Type": "text/html"})
    source_id = add_source(app, tenant.id, site.url("/list"), site="zoon")
    run_scrape_job(app, tenant.id)
    sources, reviews, runs = clinic_state(app, tenant.id)
    assert reviews == 0 and sources[source_id][0] == "several_businesses"
    assert runs == [("done", 1, 1, 1, 0)]
    page = manager_client.get(tenant.url("reputation/sources")).get_data(as_text=True)
    assert "lists several clinics" in page and "add your clinic's own page" in page


def test_conditional_get_304_brings_nothing_new(app, tenant, site, fast_fetch):
    body = own_page([("a1", "Anna", 5, "Very attentive doctor, thank you."), ("a2", "Boris", 2, "Waited an hour.")])

    def page(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, body, {"ETag": '"v1"'})

    site.routes["/own"] = page
    add_source(app, tenant.id, site.url("/own"), selector_config=OWN_CONFIG)
    run_scrape_job(app, tenant.id)
    assert clinic_state(app, tenant.id)[1] == 2
    run_scrape_job(app, tenant.id)
    sources, reviews, runs = clinic_state(app, tenant.id)
    assert reviews == 2 and runs[-1][-1] == 0
    assert list(sources.values())[0][0] == "not_modified"
    own_requests = [headers for path, headers in site.requests if path == "/own"]
    assert own_requests[-1].get("If-None-Match") == '"v1"'
    assert own_requests[-1]["User-Agent"].startswith("VernostBot/")


def test_a_reply_the_clinic_writes_later_is_taken_on_the_next_scrape(app, tenant, other_tenant, manager_client, site,
                                                                   fast_fetch):
    config = dict(OWN_CONFIG, reply=".answer")

    def page(reply: str = "") -> bytes:
        answer = f'<div class="answer">{reply}</div>' if reply else ""
        return (f'<html><body><div class="rv" data-id="b2"><span class="a">Борис</span><span class="d">2025-03-02</span>'
                f'<span class="r" data-v="1"></span><p class="t">Нахамили в регистратуре, ждали час.</p>{answer}</div>'
                f'<div class="rv" data-id="a1"><span class="a">Анна</span><span class="d">2025-03-01</span>'
                f'<span class="r" data-v="5"></span><p class="t">Врач очень внимательный.</p></div></body></html>').encode()

    site.routes["/own"] = Reply(200, page(), {"Content-Type": "text/html"})
    add_source(app, tenant.id, site.url("/own"), selector_config=config)
    add_source(app, other_tenant.id, site.url("/own"), selector_config=config)
    run_scrape_job(app, tenant.id)
    run_scrape_job(app, other_tenant.id)
    unanswered = manager_client.get(tenant.url("reputation/reviews?show=unanswered")).get_data(as_text=True)
    entries = unanswered.split('id="review-entries"', 1)[1]
    assert "Нахамили в регистратуре" in entries and "no reply yet" in entries
    assert "Врач очень внимательный" not in entries  # praise needs no answer
    # The clinic answers on the site; the next read takes the answer for the stored review.
    site.routes["/own"] = Reply(200, page("Приносим извинения, разберёмся."), {"Content-Type": "text/html"})
    run_scrape_job(app, tenant.id)
    assert clinic_state(app, tenant.id)[1] == 2  # no review added twice
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(ExternalReview.reply).where(ExternalReview.author == "Борис")) == \
            "Приносим извинения, разберёмся."
    with app.app_context(), tenant_scope(other_tenant.id):  # the other clinic's copy waits for its own read
        assert db.session.scalar(select(ExternalReview.reply).where(ExternalReview.author == "Борис")) == ""
    answered = manager_client.get(tenant.url("reputation/reviews?show=unanswered")).get_data(as_text=True)
    assert "Нахамили в регистратуре" not in answered.split('id="review-entries"', 1)[1]
    listed = manager_client.get(tenant.url("reputation/reviews")).get_data(as_text=True)
    assert "clinic replied" in listed and "Clinic's reply: Приносим извинения, разберёмся." in listed


def test_pagination_follows_next_links_up_to_the_limit(app, tenant, site, fast_fetch, monkeypatch):
    monkeypatch.setitem(app.config, "REPUTATION_MAX_PAGES", 2)
    site.routes["/own/1"] = Reply(200, own_page([("p1", "A", 5, "Great clinic one")], "/own/2"))
    site.routes["/own/2"] = Reply(200, own_page([("p2", "B", 4, "Good clinic two")], "/own/3"))
    site.routes["/own/3"] = Reply(200, own_page([("p3", "C", 1, "Bad clinic three")]))
    add_source(app, tenant.id, site.url("/own/1"), selector_config=OWN_CONFIG)
    run_scrape_job(app, tenant.id)
    sources, reviews, _ = clinic_state(app, tenant.id)
    status, reason = list(sources.values())[0]
    assert reviews == 2 and status == "ok" and "more pages remain" in reason
    assert "/own/3" not in site.hits


@needs_review_pages
def test_failing_sources_are_marked_and_the_others_still_scraped(app, tenant, site, fast_fetch):
    layout_changed = (b'<html><head><link rel="canonical" href="https://prodoctorov.ru/vidnoe/vrach/1-x/"></head>'
                      b'<body><div class="new-design">No cards here any more</div></body></html>')
    site.routes.update({
        "/good": Reply(200, saved("ratemds/pediatrician-zenack-teaneck-nj.html")),
        "/private/page": Reply(200, own_page([("x", "X", 5, "never fetched")])),
        "/down": Reply(503, b"down"),
        "/busy": [Reply(429, b"slow down", {"Retry-After": "0"}),
                  Reply(200, own_page([("b1", "Vera", 5, "Excellent nurses and no queue")]))],
        "/slow": Reply(200, b"<html></html>", pause=3.0),
        "/broken": Reply(200, b"<html><body><div class='x'><p>unclosed <b>bold <i><table><tr><td>\x00\xff\xfe"),
        "/redesigned": Reply(200, layout_changed),
    })
    ids = {path: add_source(app, tenant.id, site.url(path), selector_config=OWN_CONFIG if path == "/busy" else None)
           for path in ("/good", "/private/page", "/down", "/busy", "/slow", "/broken", "/redesigned")}
    run_scrape_job(app, tenant.id)
    sources, reviews, runs = clinic_state(app, tenant.id)
    status = {path: sources[source_id][0] for path, source_id in ids.items()}
    assert status == {"/good": "ok", "/private/page": "blocked_by_robots", "/down": "http_error", "/busy": "ok",
                      "/slow": "timeout", "/broken": "layout_changed", "/redesigned": "layout_changed"}
    assert "HTTP 503" in sources[ids["/down"]][1] and "3 attempts" in sources[ids["/down"]][1]
    assert site.hits["/down"] == 3 and site.hits["/busy"] == 2  # retried with backoff
    assert "/private/page" not in site.hits
    assert reviews == ground_truth()["ratemds/pediatrician-zenack-teaneck-nj.html"]["review_count"] + 1
    assert runs == [("done", 7, 7, 5, reviews)]
    with app.app_context(), tenant_scope(tenant.id):
        redesigned = db.session.get(ReviewSource, ids["/redesigned"])
        assert redesigned.is_broken and redesigned.last_fetched_at is not None and redesigned.last_error


def test_private_addresses_refused_unless_allowed(app, tenant, site, fast_fetch, monkeypatch):
    monkeypatch.setitem(app.config, "REPUTATION_ALLOW_PRIVATE", False)
    site.routes["/own"] = Reply(200, own_page([("a", "A", 5, "fine")]))
    add_source(app, tenant.id, site.url("/own"), selector_config=OWN_CONFIG)
    run_scrape_job(app, tenant.id)
    sources, reviews, _ = clinic_state(app, tenant.id)
    assert reviews == 0 and list(sources.values())[0][0] == "blocked_address"
    assert not site.hits


# --------------------------------------------------------------------------- sentiment, snapshots


def test_rating_is_the_truth_and_contradictions_are_flagged(app, tenant):
    from app.reputation.service import ReviewInput, store_reviews

    with app.app_context(), tenant_scope(tenant.id):
        new = store_reviews([
            ReviewInput(site="x", site_review_id="1", rating=5.0,
                        text="Ужасно. Хамство, грязь, врач грубый, никому не советую эту клинику."),
            ReviewInput(site="x", site_review_id="2", rating=None, text="Отличный врач, очень внимательный, спасибо!"),
            ReviewInput(site="x", site_review_id="3", rating=1.0, text=""),
            ReviewInput(site="x", site_review_id="1", rating=5.0, text="duplicate id in the same batch"),
        ], origin="scrape")
        db.session.commit()
        assert new == 3
        rows = {r.site_review_id: r for r in db.session.scalars(select(ExternalReview))}
        assert rows["1"].sentiment_label == "positive" and rows["1"].contradiction
        assert rows["1"].sentiment_polarity < 0 and rows["1"].topics
        assert rows["2"].sentiment_label == "positive" and not rows["2"].contradiction
        assert "doctor" in rows["2"].topics
        assert rows["3"].sentiment_label == "negative" and rows["3"].sentiment_polarity is None


def test_a_review_of_blanks_has_no_sentiment_even_after_rescoring(app, tenant):
    """The index takes a review's stored polarity as its text's sentiment: blanks must have none."""
    from app.reputation.clinic_model import rescore_clinic_texts
    from app.reputation.service import ReviewInput, clinic_today, index_overview, store_reviews

    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id="1", rating=5.0, text=" \n\t ",
                                   published_on=clinic_today())], origin="scrape")
        db.session.commit()
        assert rescore_clinic_texts()["reviews"] == 0
        assert db.session.scalar(select(ExternalReview.sentiment_polarity)) is None
        # Its rating alone counts: (5 - 1) / 4 = 1, shrunk toward 0.5 by the prior of 5 reviews.
        assert index_overview()[0].index == round(100 * (1 + 5 * 0.5) / (1 + 5), 1)


def _add_review(rating, sentiment, age, *, day, text="text", **extra):
    review = ExternalReview(key=f"k{rating}{sentiment}{age}", site="test", rating=rating,
                            sentiment_polarity=sentiment, text=text if sentiment is not None else "",
                            published_on=day - timedelta(days=age), topics={}, **extra)
    db.session.add(review)
    return review


def test_snapshots_reproduce_the_worked_example(app, tenant):
    from app.reputation.service import compute_snapshots, index_overview, trend
    from tests.factories import make_doctor

    doctor_id = make_doctor(app, tenant.id)
    day = date(2026, 6, 1)
    with app.app_context(), tenant_scope(tenant.id):
        _add_review(5, 0.8, 0, day=day, doctor_id=doctor_id)
        _add_review(4, None, 180, day=day, doctor_id=doctor_id)
        _add_review(1, -0.6, 360, day=day)
        _add_review(None, -0.2, 540, day=day)
        db.session.commit()
        values = compute_snapshots(day)
        compute_snapshots(day)  # idempotent: same rows updated
        db.session.commit()
        assert values[("clinic", 0)] == 56.87
        clinic = db.session.scalar(select(ReputationSnapshot).where(ReputationSnapshot.scope == "clinic"))
        assert clinic.confidence == pytest.approx(3 / 11, abs=1e-4)
        assert clinic.effective_reviews == pytest.approx(1.875) and clinic.reviews_used == 4
        assert db.session.scalar(select(func.count()).select_from(ReputationSnapshot)) == 2
        # The doctor: A and B only -> (0.97 + 0.375 + 2.5) / (1.5 + 5).
        assert values[("doctor", doctor_id)] == round(100 * 3.845 / 6.5, 2)
        # A week earlier review A did not exist yet.
        week_ago = compute_snapshots(day - timedelta(days=7))
        db.session.commit()
        assert week_ago[("clinic", 0)] < values[("clinic", 0)]
        overview = index_overview(day)
        assert overview[0].scope == "clinic" and overview[0].index == 56.9
        assert overview[0].week_delta == round(56.87 - week_ago[("clinic", 0)], 1)
        points = trend("clinic", 0, 30, day)
        assert points[0] == (day - timedelta(days=7), week_ago[("clinic", 0)]) and points[-1] == (day, 56.87)
        assert all(v is None for _, v in points[1:-1])


def test_imported_reviews_have_an_index_row_per_site(app, tenant, other_tenant, manager_client):
    """Reviews from no source (imported or pasted) still show up in the index table, by site."""
    from app.reputation.service import ReviewInput, compute_snapshots, index_overview, store_reviews

    with app.app_context(), tenant_scope(tenant.id):
        source = ReviewSource(url="https://prodoctorov.ru/moskva/lpu/1/", site="prodoctorov", label="ПроДокторов")
        db.session.add(source)
        db.session.flush()
        store_reviews([ReviewInput(site="prodoctorov", site_review_id="1", rating=5.0, text="Отличная клиника")],
                      origin="scrape", source=source)
        store_reviews([ReviewInput(site="prodoctorov", site_review_id="2", rating=1.0, text="Нахамили"),
                       ReviewInput(site="2gis", site_review_id="3", rating=4.0, text="",
                                   published_on=date.today() - timedelta(days=30)),
                       ReviewInput(site="import", rating=2.0, text="Долго ждали приёма")], origin="csv")
        db.session.commit()
        source_id = source.id
    with app.app_context(), tenant_scope(other_tenant.id):
        store_reviews([ReviewInput(site="zoon", site_review_id="9", rating=1.0, text="Плохо")], origin="csv")
        db.session.commit()
    with app.app_context(), tenant_scope(tenant.id):
        overview = index_overview()
        rows = {(row.scope, row.scope_id): row for row in overview}
        # A site's row counts all that site's reviews, as its list (?site=) shows them; the source only its own.
        assert {key: row.reviews for key, row in rows.items()} == {
            ("clinic", 0): 4, ("source", source_id): 1, ("site", "prodoctorov"): 2, ("site", "2gis"): 1,
            ("site", "import"): 1}
        assert [row.scope for row in overview] == ["clinic", "source", "site", "site", "site"]
        assert rows[("site", "import")].name == "Imported, no site given"
        assert rows[("site", "2gis")].week_delta is not None  # recomputed as it stood a week ago
        # Only the clinic, branches, doctors and sources are charted: no snapshot rows for sites.
        assert {key for key in compute_snapshots()} == {("clinic", 0), ("source", source_id)}
        db.session.commit()

    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert f'<a href="{tenant.url("reputation/reviews?site=2gis")}">2gis</a>' in page
    assert f'<a href="{tenant.url("reputation/reviews?site=import")}">Imported, no site given</a>' in page
    assert "zoon" not in page
    listed = manager_client.get(tenant.url("reputation/reviews?site=import")).get_data(as_text=True)
    assert "<strong>Imported, no site given</strong>" in listed and "Долго ждали приёма" in listed
    assert "Нахамили" not in listed


def test_digest_and_journal_feeds(app, tenant, other_tenant):
    from app.reputation.service import (ReviewInput, dashboard_card, journal_review_entries, new_negative_reviews,
                                        store_reviews)

    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    written = date.today() - timedelta(days=3)
    for clinic in (tenant, other_tenant):
        with app.app_context(), tenant_scope(clinic.id):
            store_reviews([ReviewInput(site="prodoctorov", site_review_id="n1", rating=1.0, text="Грубый администратор, ждали час.",
                                       published_on=written, url="https://prodoctorov.ru/x/"),
                           ReviewInput(site="prodoctorov", site_review_id="p1", rating=5.0, text="Прекрасный врач."),
                           # First seen now, written two years ago: a new source's history, not news.
                           ReviewInput(site="prodoctorov", site_review_id="old", rating=1.0, text="Хамство в регистратуре.",
                                       published_on=date.today() - timedelta(days=730))],
                          origin="scrape")
            db.session.commit()
    with app.app_context(), tenant_scope(tenant.id):
        negative = new_negative_reviews(since)
        assert len(negative) == 1
        item = negative[0]
        assert (item["site"], item["date"], item["rating"], item["url"]) == ("prodoctorov", written, 1.0,
                                                                            "https://prodoctorov.ru/x/")
        assert item["excerpt"].startswith("Грубый администратор")
        assert new_negative_reviews(datetime.now(timezone.utc) + timedelta(minutes=1)) == []
        entries = journal_review_entries(since=since)
        assert [e["kind"] for e in entries] == ["review", "review"] and all(e["at"] >= since for e in entries)
        # Without a "since" every review is listed (the Reputation page), the old one too.
        assert len(journal_review_entries(negative_only=True)) == 2
        assert dashboard_card()["new_negative_7d"] == 1


# --------------------------------------------------------------------------- imports


CSV_GOOD = "date,rating,text,author,site\n2025-01-10,5,Отличный врач,Анна,prodoctorov\n11.01.2025,,Долго ждали в очереди,Борис,\n"
CSV_BAD = ("date;rating;text;author\n2025-01-10;5;Отличный врач;Анна\nвчера;7;Плохо;Борис\n"
           "2025-01-12;;;Пустой\n2999-01-01;3;Из будущего;Вера\n")


def _import(client, tenant, **data):
    html = client.get(tenant.url("reputation/import")).get_data(as_text=True)
    data["csrf_token"] = form_token(html)
    return client.post(tenant.url("reputation/import"), data=data, content_type="multipart/form-data")


def _count(app, clinic_id):
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(func.count()).select_from(ExternalReview))


def test_csv_import_is_all_or_nothing(app, tenant, manager_client):
    response = _import(manager_client, tenant, file=(io.BytesIO(CSV_BAD.encode("cp1251")), "reviews.csv"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was imported" in html
    for line in ("3", "4", "5"):
        assert f"<td>{line}</td>" in html
    assert "not a date" in html and "from 0 to 5" in html and "needs a text or a rating" in html and "future" in html
    assert _count(app, tenant.id) == 0

    response = _import(manager_client, tenant, file=(io.BytesIO(CSV_GOOD.encode()), "reviews.csv"))
    assert response.status_code == 302
    assert _count(app, tenant.id) == 2
    with app.app_context(), tenant_scope(tenant.id):
        rows = {r.author: r for r in db.session.scalars(select(ExternalReview))}
        assert rows["Анна"].site == "prodoctorov" and rows["Анна"].origin == "csv" and rows["Анна"].rating == 5
        assert rows["Борис"].published_on == date(2025, 1, 11) and rows["Борис"].rating is None
        assert rows["Борис"].sentiment_label is not None
        assert db.session.scalar(select(func.count()).select_from(ReputationSnapshot)) >= 1
    # Importing the same file again finds only known reviews.
    response = _import(manager_client, tenant, file=(io.BytesIO(CSV_GOOD.encode()), "reviews.csv"))
    assert response.status_code == 302 and _count(app, tenant.id) == 2
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "Imported 0 reviews (2 already known)" in page


def test_csv_with_old_mac_line_ends_imports(app, tenant, manager_client):
    csv_cr = "date,rating,text,author\r2025-01-10,5,Всё отлично,Анна\r2025-01-11,2,Долго ждали,Олег\r"
    assert _import(manager_client, tenant, file=(io.BytesIO(csv_cr.encode()), "r.csv")).status_code == 302
    assert _count(app, tenant.id) == 2


def test_csv_without_required_columns_and_empty_form(app, tenant, manager_client):
    response = _import(manager_client, tenant, file=(io.BytesIO(b"when,stars\n2025-01-01,5\n"), "x.csv"))
    assert response.status_code == 400 and "Missing columns" in response.get_data(as_text=True)
    response = _import(manager_client, tenant)
    assert response.status_code == 400 and "Choose a CSV file or paste reviews" in response.get_data(as_text=True)
    response = _import(manager_client, tenant, file=(io.BytesIO(b"\xff\xfe\x00garbage\x00"), "x.csv"))
    assert response.status_code == 400


def test_control_characters_in_files_pages_and_pastes_are_dropped(app, tenant, manager_client, site, fast_fetch):
    """PostgreSQL refuses NUL in text: a review carrying one is stored without it, not lost."""
    csv_with_nul = "date,rating,text,author\n2025-01-10,5,Всё\x00 отлично,Ан\x00на\n"
    assert _import(manager_client, tenant, file=(io.BytesIO(csv_with_nul.encode()), "r.csv")).status_code == 302
    assert _import(manager_client, tenant, pasted="2025-01-11 | 2 | Олег\nДолго\x00 ждали\n").status_code == 302
    page = json.dumps({"@context": "https://schema.org", "@type": "MedicalClinic", "name": "X", "review": [
        {"@type": "Review", "@id": "r\u00001", "author": "Ve\u0000ra", "datePublished": "2025-01-12",
         "reviewRating": {"ratingValue": 4}, "reviewBody": "Good\u0000 nurses"}]})
    site.routes["/nul"] = Reply(200, f"<html><script type='application/ld+json'>{page}</script></html>".encode())
    add_source(app, tenant.id, site.url("/nul"))
    run_scrape_job(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        stored = {(r.author, r.text) for r in db.session.scalars(select(ExternalReview))}
    assert stored == {("Анна", "Всё отлично"), ("Олег", "Долго ждали"), ("Vera", "Good nurses")}


def test_pasted_reviews(app, tenant, manager_client):
    text = ("2025-02-01 | 5 | Анна\nВрач всё объяснил, спасибо.\n\n"
            "Просто текст без заголовка: регистратура не берёт трубку.\n\n"
            "2025-02-03 | 9 | Олег\nОценка вне шкалы\n")
    response = _import(manager_client, tenant, pasted=text)
    assert response.status_code == 400 and "<td>6</td>" in response.get_data(as_text=True)
    assert _count(app, tenant.id) == 0
    response = _import(manager_client, tenant, pasted=text.rsplit("\n\n", 1)[0])
    assert response.status_code == 302 and _count(app, tenant.id) == 2


def test_reviews_imported_for_a_doctor_count_for_the_doctors_branch(app, tenant, manager_client):
    from tests.factories import make_branch, make_doctor

    south = make_branch(app, tenant.id, "South")
    doctor = make_doctor(app, tenant.id, "Сидорова Анна", branch_id=south)
    west = make_branch(app, tenant.id, "West")
    pasted = "2025-02-01 | 5 | Анна\nВрач всё объяснил, спасибо.\n"
    assert _import(manager_client, tenant, pasted=pasted, doctor_id=str(doctor)).status_code == 302
    # A branch chosen on purpose wins over the doctor's own.
    assert _import(manager_client, tenant, pasted=pasted.replace("Анна", "Олег"), doctor_id=str(doctor),
                   branch_id=str(west)).status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        stored = dict(db.session.execute(select(ExternalReview.author, ExternalReview.branch_id)
                                         .where(ExternalReview.doctor_id == doctor)).all())
    assert stored == {"Анна": south, "Олег": west}


# --------------------------------------------------------------------------- workspace pages


def test_sources_pages_add_edit_validate_and_remove(app, tenant, manager_client):
    html = manager_client.get(tenant.url("reputation/sources")).get_data(as_text=True)
    token = form_token(html)
    bad = manager_client.post(tenant.url("reputation/sources"), data={
        "csrf_token": token, "url": "ftp://nowhere", "selector_config": '{"review": ".r", "txet": ".t"}'})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "http://" in body and "txet" in body
    for unparsable in ("http://[", "https://example.org:99999/reviews"):
        refused = manager_client.post(tenant.url("reputation/sources"), data={"csrf_token": token, "url": unparsable})
        assert refused.status_code == 400 and "http://" in refused.get_data(as_text=True)
    bad_json = manager_client.post(tenant.url("reputation/sources"), data={
        "csrf_token": token, "url": "https://example.org/reviews", "selector_config": "{not json"})
    assert bad_json.status_code == 400 and "Not valid JSON" in bad_json.get_data(as_text=True)
    bad_branch = manager_client.post(tenant.url("reputation/sources"), data={
        "csrf_token": token, "url": "https://example.org/reviews", "branch_id": "99999"})
    assert bad_branch.status_code == 400
    assert 'id="scrape-now"' not in manager_client.get(tenant.url("reputation/sources")).get_data(as_text=True)
    ok = manager_client.post(tenant.url("reputation/sources"), data={
        "csrf_token": token, "url": "https://prodoctorov.ru/moskva/lpu/123-klinika/otzivi/", "label": "Main"})
    assert ok.status_code == 302
    # The source just added can be read at once, from the same page.
    listed = manager_client.get(ok.headers["Location"]).get_data(as_text=True)
    assert 'id="scrape-now"' in listed and f'action="{tenant.url("reputation/scrape")}"' in listed
    again = manager_client.post(tenant.url("reputation/sources"), data={
        "csrf_token": token, "url": "https://prodoctorov.ru/moskva/lpu/123-klinika/otzivi/"})
    assert again.status_code == 400 and "already a source" in again.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        source = db.session.scalar(select(ReviewSource))
        assert source.site == "prodoctorov"
        source_id = source.id
    edit = manager_client.post(tenant.url(f"reputation/sources/{source_id}"), data={
        "csrf_token": token, "url": "https://example.org/clinic", "selector_config": json.dumps(OWN_CONFIG)})
    assert edit.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        source = db.session.get(ReviewSource, source_id)
        assert source.selector_config == OWN_CONFIG and source.site is None and not source.active
    assert "example.org/clinic" in manager_client.get(tenant.url("reputation/sources")).get_data(as_text=True)
    assert manager_client.get(tenant.url(f"reputation/sources/{source_id}")).status_code == 200
    gone = manager_client.post(tenant.url(f"reputation/sources/{source_id}/delete"), data={"csrf_token": token})
    assert gone.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ReviewSource)) == 0


def test_a_source_given_another_doctor_takes_the_reviews_read_from_it_along(app, tenant, other_tenant,
                                                                            manager_client):
    from app.reputation.service import ReviewInput, compute_snapshots, store_reviews
    from tests.factories import make_branch, make_doctor

    north = make_branch(app, tenant.id, "North")
    first = make_doctor(app, tenant.id, "Иванова Ольга")
    second = make_doctor(app, tenant.id, "Петров Иван", branch_id=north)
    page = add_source(app, tenant.id, "https://prodoctorov.ru/vidnoe/vrach/1-petrov/", doctor_id=first)
    theirs = add_source(app, other_tenant.id, "https://prodoctorov.ru/vidnoe/vrach/2-chuzhoy/")
    for clinic_id, source_id in ((tenant.id, page), (other_tenant.id, theirs)):
        with app.app_context(), tenant_scope(clinic_id):
            source = db.session.get(ReviewSource, source_id)
            store_reviews([ReviewInput(site="prodoctorov", site_review_id=f"r{i}", rating=5.0, text=f"Отзыв {i}",
                                       published_on=date(2026, 3, 1) - timedelta(days=i)) for i in range(3)],
                          origin="scrape", source=source)
            compute_snapshots()
            db.session.commit()

    def attribution(clinic_id):
        with app.app_context(), tenant_scope(clinic_id):
            reviews = set(db.session.execute(select(ExternalReview.branch_id, ExternalReview.doctor_id)).all())
            today = {(s.scope, s.scope_id) for s in db.session.scalars(select(ReputationSnapshot))}
            return reviews, today

    assert attribution(tenant.id) == ({(None, first)}, {("clinic", 0), ("doctor", first), ("source", page)})
    token = form_token(manager_client.get(tenant.url(f"reputation/sources/{page}")).get_data(as_text=True))
    # The page is the second doctor's; left without a branch, it counts for his.
    moved = manager_client.post(tenant.url(f"reputation/sources/{page}"), data={
        "csrf_token": token, "url": "https://prodoctorov.ru/vidnoe/vrach/1-petrov/", "doctor_id": str(second),
        "active": "on"}, follow_redirects=True)
    assert "the 3 reviews already read from it now count" in moved.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        assert (db.session.get(ReviewSource, page).branch_id, db.session.get(ReviewSource, page).doctor_id) == (
            north, second)
    # Today's index follows: the first doctor has no figure left, the second and his branch have one.
    assert attribution(tenant.id) == ({(north, second)}, {("clinic", 0), ("doctor", second), ("branch", north),
                                                          ("source", page)})
    listed = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "Петров Иван" in listed and "North" in listed and "Иванова Ольга" not in listed
    # Another clinic's reviews stay where they were.
    assert attribution(other_tenant.id) == ({(None, None)}, {("clinic", 0), ("source", theirs)})
    # Saving the source unchanged moves nothing and says nothing of it.
    again = manager_client.post(tenant.url(f"reputation/sources/{page}"), data={
        "csrf_token": token, "url": "https://prodoctorov.ru/vidnoe/vrach/1-petrov/", "doctor_id": str(second),
        "branch_id": str(north), "active": "on"}, follow_redirects=True)
    assert "Source saved." in again.get_data(as_text=True)


def test_overview_scrape_button_and_progress_fragment(app, tenant, manager_client, site, fast_fetch):
    html = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "Reputation" in html and "No review sources yet" in html
    site.routes["/own"] = Reply(200, own_page([("a1", "Anna", 5, "Врач очень внимательный"),
                                               ("a2", "Boris", 1, "Ждали в очереди два часа, администратор хамит")]))
    add_source(app, tenant.id, site.url("/own"), selector_config=OWN_CONFIG)
    token = form_token(manager_client.get(tenant.url("reputation")).get_data(as_text=True))
    response = manager_client.post(tenant.url("reputation/scrape"), data={"csrf_token": token})
    assert response.status_code == 302
    run_url = response.headers["Location"]
    # Queued: the page polls; the same version answers 204.
    page = manager_client.get(run_url).get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in page and "queued" in page
    fragment = manager_client.get(run_url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert manager_client.get(run_url + "?v=queued-0-0", headers={"HX-Request": "true"}).status_code == 204
    # A second click while queued does not start a second run.
    manager_client.post(tenant.url("reputation/scrape"), data={"csrf_token": token})
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ScrapeRun)) == 1
    build_worker(app, ["scrape"], worker_class=InlineAppWorker).work(burst=True)
    done = manager_client.get(run_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in done and "2 new reviews" in done
    overview = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "<svg" in overview and "Ждали в очереди" in overview
    # The reviews were written in March 2025: outside the aspects' default 90 days, inside all time.
    aspects = overview.split('id="aspect-window"', 1)[1]
    assert "Waiting and queues" not in aspects and "No topics in this period" in aspects
    assert 'href="' + tenant.url("reputation?aspects=all") + '#aspect-window">Show all time</a>' in aspects
    every_aspect = manager_client.get(tenant.url("reputation?aspects=all")).get_data(as_text=True)
    assert "Waiting and queues" in every_aspect.split('id="aspect-window"', 1)[1]
    # What moves the index counts every review, older ones for less.
    assert "Waiting and queues" in overview.split('id="index-drivers"', 1)[1].split("</section>", 1)[0]
    reviews = manager_client.get(tenant.url("reputation/reviews?show=negative")).get_data(as_text=True)
    assert "Ждали в очереди" in reviews and "Врач очень внимательный" not in reviews
    assert manager_client.get(tenant.url("reputation/reviews?show=bogus&before=x")).status_code == 200


def test_viewer_cannot_change_sources_or_scrape(app, tenant):
    from tests.conftest import add_member, login

    add_member(app, tenant, "viewer@alpha.test", "viewer")
    c = app.test_client()
    login(c, "viewer@alpha.test")
    add_source(app, tenant.id, "https://prodoctorov.ru/moskva/lpu/1-klinika/")
    html = c.get(tenant.url("reputation/sources")).get_data(as_text=True)
    assert "Add a source" not in html and 'id="scrape-now"' not in html and "1-klinika" in html
    token = form_token(html)
    assert c.post(tenant.url("reputation/sources"), data={"csrf_token": token, "url": "https://a.b/c"}).status_code == 403
    assert c.post(tenant.url("reputation/scrape"), data={"csrf_token": token}).status_code == 403


def test_dashboard_card_data_and_template(app, tenant):
    from flask import render_template

    from app.reputation.service import ReviewInput, compute_snapshots, dashboard_card, store_reviews

    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id="1", rating=5.0, text="")], origin="scrape")
        compute_snapshots()
        db.session.commit()
        card = dashboard_card()
        assert card["index"] == pytest.approx(100 * (1 + 2.5) / 6, abs=0.1) and card["reviews"] == 1
        with app.test_request_context():
            from flask import g

            from app.models import Tenant

            g.tenant = db.session.get(Tenant, tenant.id)
            html = render_template("workspace/_reputation_card.html", reputation=card)
            assert "58" in html
            assert render_template("workspace/_reputation_card.html").strip() == ""


# --------------------------------------------------------------------------- licence and fan-out


def test_module_not_licensed_shows_a_clear_page_and_fetches_nothing(app, site, fast_fetch):
    from tests.conftest import login

    basic = make_clinic(app, "gamma", plan="basic")
    site.routes["/own"] = Reply(200, own_page([("a", "A", 5, "fine")]))
    add_source(app, basic.id, site.url("/own"), selector_config=OWN_CONFIG)
    c = app.test_client()
    login(c, basic.owner_email)
    page = c.get(basic.url("reputation"))
    assert page.status_code == 200 and "not part of this clinic" in page.get_data(as_text=True)
    token = form_token(c.get(basic.url("settings/clinic")).get_data(as_text=True))
    assert c.post(basic.url("reputation/scrape"), data={"csrf_token": token}).status_code == 403
    # A run that reached the queue anyway closes without fetching.
    run_scrape_job(app, basic.id)
    _, reviews, runs = clinic_state(app, basic.id)
    assert reviews == 0 and runs[0][0] == "failed" and not site.hits


def test_nightly_fan_out_skips_suspended_and_unlicensed_clinics(app, tenant, other_tenant, fast_fetch):
    from jobs.scrape import nightly_reputation

    basic = make_clinic(app, "gamma", plan="basic")
    with app.app_context(), platform_scope():
        licence = db.session.scalar(select(Licence).where(Licence.tenant_id == other_tenant.id))
        licence.suspended = True
        db.session.commit()
    with app.app_context():
        assert nightly_reputation() == 1
        assert nightly_reputation() == 0  # never twice a night
    build_worker(app, ["scrape"], worker_class=InlineAppWorker).work(burst=True)
    assert clinic_state(app, tenant.id)[2] == [("done", 0, 0, 0, 0)]
    assert clinic_state(app, other_tenant.id)[2] == []
    assert clinic_state(app, basic.id)[2] == []
    with app.app_context(), tenant_scope(tenant.id):
        # Even without sources the nightly run snapshots the index (here: no reviews yet).
        assert db.session.scalar(select(ReputationSnapshot.value).where(ReputationSnapshot.scope == "clinic")) is None


# --------------------------------------------------------------------------- operators' console


def test_operator_edits_a_selector_config_in_the_console(app, tenant, other_tenant, operator_client):
    from app.models import OperatorAction

    mine = add_source(app, tenant.id, "https://example.org/clinic-a", fetch_state={"etag": '"x"'}, status="layout_changed")
    theirs = add_source(app, other_tenant.id, "https://example.org/clinic-b")
    listing = operator_client.get(f"/platform/clinics/{tenant.id}/review-sources").get_data(as_text=True)
    assert "clinic-a" in listing and "clinic-b" not in listing
    page = operator_client.get(f"/platform/clinics/{tenant.id}/review-sources/{mine}")
    token = form_token(page.get_data(as_text=True))
    # Another clinic's source under this clinic's address is not found.
    assert operator_client.get(f"/platform/clinics/{tenant.id}/review-sources/{theirs}").status_code == 404
    assert operator_client.post(f"/platform/clinics/{tenant.id}/review-sources/{theirs}",
                                data={"csrf_token": token, "selector_config": "{}"}).status_code == 404
    assert operator_client.get("/platform/clinics/999/review-sources").status_code == 404
    bad = operator_client.post(f"/platform/clinics/{tenant.id}/review-sources/{mine}",
                               data={"csrf_token": token, "selector_config": '{"text": ".t"}'})
    assert bad.status_code == 400 and "review" in bad.get_data(as_text=True)
    ok = operator_client.post(f"/platform/clinics/{tenant.id}/review-sources/{mine}",
                              data={"csrf_token": token, "selector_config": json.dumps(OWN_CONFIG)})
    assert ok.status_code == 302
    with app.app_context():
        with tenant_scope(tenant.id):
            source = db.session.get(ReviewSource, mine)
            assert source.selector_config == OWN_CONFIG and source.fetch_state == {} and source.status == "new"
        with platform_scope():
            assert db.session.scalar(select(OperatorAction.action).where(OperatorAction.tenant_id == tenant.id)
                                     .order_by(OperatorAction.id.desc())) == "selector_config"


def test_reviews_list_pages_backwards(app, tenant, manager_client):
    from app.reputation.service import ReviewInput, store_reviews

    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id=str(i), rating=float(1 + i % 5), text="")
                       for i in range(55)], origin="scrape")
        db.session.commit()
    first = manager_client.get(tenant.url("reputation/reviews")).get_data(as_text=True)
    assert first.count('class="entry review') == 50 and "Older reviews" in first
    before = first.split("before=")[1].split('"')[0]
    more = manager_client.get(tenant.url(f"reputation/reviews?before={before}"), headers={"HX-Request": "true"})
    body = more.get_data(as_text=True)
    assert "<html" not in body and body.count('class="entry review') == 5 and "Older reviews" not in body


def test_reviews_are_listed_by_the_date_written_across_pages(app, tenant, manager_client):
    """A first scrape stores years of history at one moment: the list follows the dates written."""
    import re

    from app.reputation.service import ReviewInput, store_reviews

    days = [date(2024, 1, 1) + timedelta(days=(i * 37) % 700) for i in range(60)]
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id=str(i), rating=4.0, text="", published_on=day)
                       for i, day in enumerate(days)]
                      + [ReviewInput(site="x", site_review_id="undated", rating=2.0, text="")], origin="scrape")
        db.session.commit()
        seen_today = db.session.scalar(select(ExternalReview.first_seen_at)).date()

    def dates(html):
        return [date.fromisoformat(d) for d in re.findall(r'<time datetime="([0-9-]+)"', html)]

    first = manager_client.get(tenant.url("reputation/reviews")).get_data(as_text=True)
    cursor = re.search(r'before=([0-9_-]+)"', first).group(1)
    rest = manager_client.get(tenant.url(f"reputation/reviews?before={cursor}"),
                              headers={"HX-Request": "true"}).get_data(as_text=True)
    listed = dates(first) + dates(rest)
    # An undated review counts as written the day it was first seen, so it leads.
    assert listed == sorted(days + [seen_today], reverse=True)
    assert "Older reviews" not in rest
    overview = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert dates(overview.split('id="review-entries"', 1)[1]) == listed[:10]
    for junk in ("x", "2026-13-01_4", "2026-01-01_", "_5"):
        page = manager_client.get(tenant.url(f"reputation/reviews?before={junk}"))
        assert page.status_code == 200 and dates(page.get_data(as_text=True)) == listed[:50]


def test_a_doctors_branchs_or_sources_reviews_are_listed_on_their_own(app, tenant, other_tenant, manager_client):
    import re

    from app.reputation.service import ReviewInput, compute_snapshots, store_reviews
    from tests.factories import make_doctor

    ivanova, petrov = make_doctor(app, tenant.id, "Иванова Ольга"), make_doctor(app, tenant.id, "Петров Иван")
    stranger = make_doctor(app, other_tenant.id, "Чужой Врач")
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id=f"i{i}", rating=1.0 + i % 5, text=f"Иванова, отзыв {i}",
                                   published_on=date(2026, 1, 1) + timedelta(days=i), doctor_id=ivanova)
                       for i in range(55)]
                      + [ReviewInput(site="x", site_review_id="p1", rating=5.0, text="Петров, отзыв",
                                     published_on=date(2026, 6, 1), doctor_id=petrov)], origin="scrape")
        compute_snapshots()
        db.session.commit()

    def texts(html):
        return re.findall(r'<p class="entry-text">([^<]*)</p>', html)

    # The overview's table leads to each doctor's own reviews.
    overview = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    link = tenant.url(f"reputation/reviews?scope=doctor&amp;id={ivanova}")
    assert f'href="{link}">Иванова Ольга</a>' in overview
    first = manager_client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'id="reviews-scope"' in first and "Иванова Ольга" in first
    assert len(texts(first)) == 50 and all(t.startswith("Иванова") for t in texts(first))
    # The next page and the sentiment filters stay with the doctor.
    older = re.search(r'href="([^"]*before=[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "scope=doctor" in older and f"id={ivanova}" in older
    rest = texts(manager_client.get(older, headers={"HX-Request": "true"}).get_data(as_text=True))
    assert len(rest) == 5 and all(t.startswith("Иванова") for t in rest)
    negative = re.search(r'href="([^"]*show=negative[^"]*)"', first).group(1).replace("&amp;", "&")
    assert f"id={ivanova}" in negative
    assert set(texts(manager_client.get(negative).get_data(as_text=True))) == {
        f"Иванова, отзыв {i}" for i in range(55) if 1.0 + i % 5 <= 2}
    assert texts(manager_client.get(tenant.url(f"reputation/reviews?scope=doctor&id={petrov}"))
                 .get_data(as_text=True)) == ["Петров, отзыв"]
    # Another clinic's doctor, or no number, is not found; an unknown scope lists the whole clinic.
    for bad in (f"scope=doctor&id={stranger}", "scope=doctor&id=x", "scope=branch&id=99999999999999999999"):
        assert manager_client.get(tenant.url(f"reputation/reviews?{bad}")).status_code == 404, bad
    whole = manager_client.get(tenant.url("reputation/reviews?scope=planet&id=1")).get_data(as_text=True)
    assert 'id="reviews-scope"' not in whole and "Петров, отзыв" in whole


def test_one_sites_reviews_imported_ones_included_are_listed_on_their_own(app, tenant, manager_client):
    import re

    from app.reputation.importer import parse_csv
    from app.reputation.service import import_reviews

    rows = "date,rating,text,author,site\n" + "".join(
        f"2026-0{1 + i % 9}-1{i % 10},{1 + i % 5},Отзыв {i} на {site},,{site}\n"
        for i, site in enumerate(["2gis.ru"] * 53 + ["yandex.ru"] * 4))
    with app.app_context(), tenant_scope(tenant.id):
        import_reviews(parse_csv(rows), origin="csv")
        db.session.commit()

    def texts(html):
        return re.findall(r'<p class="entry-text">([^<]*)</p>', html)

    overview = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    link = tenant.url("reputation/reviews?site=yandex.ru")
    assert f'<a class="badge" href="{link}"' in overview
    yandex = manager_client.get(link).get_data(as_text=True)
    assert 'id="reviews-scope"' in yandex and "<strong>yandex.ru</strong>" in yandex
    assert sorted(texts(yandex)) == sorted(f"Отзыв {i} на yandex.ru" for i in range(53, 57))
    first = manager_client.get(tenant.url("reputation/reviews?site=2gis.ru")).get_data(as_text=True)
    older = re.search(r'href="([^"]*before=[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "site=2gis.ru" in older
    rest = texts(manager_client.get(older, headers={"HX-Request": "true"}).get_data(as_text=True))
    assert len(texts(first)) == 50 and len(rest) == 3 and all("2gis.ru" in t for t in texts(first) + rest)
    nowhere = manager_client.get(tenant.url("reputation/reviews?site=" + "x" * 500))
    assert nowhere.status_code == 200 and texts(nowhere.get_data(as_text=True)) == []


def test_an_undated_review_is_dated_by_its_utc_day_whatever_the_sessions_time_zone(app, tenant):
    """The list dates an undated review as the index does, by the UTC day it was first seen."""
    from sqlalchemy import text, update

    from app.reputation.service import ReviewInput, review_list, store_reviews

    late_evening = datetime(2026, 3, 1, 20, 30, tzinfo=timezone.utc)  # already 2 March east of UTC+4
    with app.app_context(), tenant_scope(tenant.id):
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
        # Stored first, so on a tie of days the undated review (a larger id) would come first.
        store_reviews([ReviewInput(site="x", site_review_id="dated", rating=4.0, text="", published_on=date(2026, 3, 2))],
                      origin="scrape")
        store_reviews([ReviewInput(site="x", site_review_id="undated", rating=4.0, text="")], origin="scrape")
        db.session.execute(update(ExternalReview).values(first_seen_at=late_evening))
        first, cursor = review_list(limit=1)
        second, end = review_list(limit=1, after=cursor)
        assert [first[0]["date"], second[0]["date"]] == [date(2026, 3, 2), date(2026, 3, 1)]
        assert cursor.day == date(2026, 3, 2) and end is None
        db.session.rollback()


def test_a_comments_aspects_are_kept_as_rows_once_however_often_it_is_scored(app, tenant):
    from app.models import Response, ResponseAspect
    from app.privacy import delete_responses
    from jobs.feedback import response_received
    from tests.factories import make_response

    response_id = make_response(app, tenant.id, comment="Врач внимательный, но в регистратуре нахамили.")
    with app.app_context():
        response_received(tenant.id, response_id)
        response_received(tenant.id, response_id)  # a job retried after a lost acknowledgement
    with app.app_context(), tenant_scope(tenant.id):
        response = db.session.get(Response, response_id)
        rows = {row.aspect: row.polarity for row in db.session.scalars(select(ResponseAspect))}
        assert rows == response.topics and set(rows) == {"doctor", "reception"}
        assert rows["reception"] < 0 < rows["doctor"]
        delete_responses([response])
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(ResponseAspect)) == 0


def test_aspects_read_the_period_the_manager_chose(app, tenant, manager_client):
    from app.feedback import store_topics
    from app.models import Response
    from app.nlp.topics import tag_aspects
    from app.reputation.service import ReviewInput, aspect_table, clinic_today, store_reviews
    from tests.factories import make_response

    now = datetime.now(timezone.utc)
    old_comment = make_response(app, tenant.id, comment="Грязный туалет, нет мыла.", submitted_at=now - timedelta(days=120))
    new_comment = make_response(app, tenant.id, comment="Медсестра очень аккуратно взяла кровь.",
                                submitted_at=now - timedelta(days=3))
    with app.app_context(), tenant_scope(tenant.id):
        today = clinic_today()
        for response_id in (old_comment, new_comment):
            response = db.session.get(Response, response_id)
            store_topics(response, tag_aspects(response.comment))
        store_reviews([ReviewInput(site="x", site_review_id="old", rating=1.0, text="Ждали в очереди два часа.",
                                   published_on=today - timedelta(days=400)),
                       ReviewInput(site="x", site_review_id="year", rating=2.0, text="Цены завышены, навязали услуги.",
                                   published_on=today - timedelta(days=200)),
                       ReviewInput(site="x", site_review_id="undated", rating=5.0, text="Врач всё подробно объяснил.")],
                      origin="scrape")
        db.session.commit()

        def aspects(days):
            return {row["aspect"] for row in aspect_table(since=today - timedelta(days=days) if days else None)}

        assert aspects(90) == {"nurses", "doctor"}  # an undated review counts from the day it was first seen
        assert aspects(365) == {"nurses", "doctor", "cleanliness", "prices"}
        assert aspects(None) == {"nurses", "doctor", "cleanliness", "prices", "waiting"}

    def shown(query):
        html = manager_client.get(tenant.url(f"reputation{query}")).get_data(as_text=True)
        html = html.split('id="aspect-window"', 1)[1]  # the aspect table, not what moves the index
        return [title for title in ("Nurses", "Doctor", "Cleanliness and comfort", "Prices and billing",
                                    "Waiting and queues") if f"<strong>{title}</strong>" in html]

    assert shown("") == shown("?aspects=90") == shown("?aspects=forever") == ["Nurses", "Doctor"]
    assert len(shown("?aspects=365")) == 4 and len(shown("?aspects=all")) == 5
    page = manager_client.get(tenant.url("reputation?aspects=all")).get_data(as_text=True)
    assert "<strong>all time</strong>" in page and "aspects=90#aspect-window" in page


def test_aspect_examples_do_not_repeat_the_same_words(app, tenant):
    from app.reputation.service import ReviewInput, aspect_table, store_reviews

    same = "Долго ждали в очереди, почти час."
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id=str(i), rating=2.0, text=text)
                       for i, text in enumerate([same, same.upper(), same, "Ужасная очередь, ждали два часа.",
                                                 "Без очереди, быстро и удобно."])], origin="scrape")
        db.session.commit()
        waiting = next(row for row in aspect_table(quotes=4) if row["aspect"] == "waiting")
    texts = [quote["text"].casefold() for quote in waiting["quotes"]]
    # Four complaints in two wordings: two examples of them, and the praise.
    assert waiting["mentions"] == 5 and len(texts) == 3 and len(set(texts)) == 3
    assert same.casefold() in texts and "без очереди, быстро и удобно." in texts
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id=f"d{i}", rating=5.0, text=text) for i, text in
                       enumerate(["Врач внимательный, всё объяснил.", "Отличный врач!", "Отличный врач!",
                                  "Врач грамотный и вежливый."])], origin="scrape")
        db.session.commit()
        doctor = next(row for row in aspect_table() if row["aspect"] == "doctor")
    # No complaint about the doctor: the three places go to three different words of praise.
    assert doctor["negative"] == 0 and len({quote["text"] for quote in doctor["quotes"]}) == 3


def test_many_patients_writing_the_same_words_leave_room_for_other_examples(app, tenant):
    from app.feedback import store_topics
    from app.models import Response
    from app.reputation.service import QUOTE_CANDIDATES, aspect_table
    from tests.factories import make_response

    now = datetime.now(timezone.utc)
    # More patients than the quotes read at once wrote the same complaint, as strong as any; two others differ.
    comments = ["Ужасно долго ждали в очереди."] * (QUOTE_CANDIDATES + 5) + [
        "Ждали приёма сорок минут.", "Очередь двигалась медленно."]
    ids = [make_response(app, tenant.id, comment=text, submitted_at=now - timedelta(hours=i + 1))
           for i, text in enumerate(comments)]
    with app.app_context(), tenant_scope(tenant.id):
        for response_id, text in zip(ids, comments):
            # The same strength for the repeated words, weaker for the other two.
            store_topics(db.session.get(Response, response_id),
                         {"waiting": -0.9 if text.startswith("Ужасно") else -0.5})
        db.session.commit()
        waiting = next(row for row in aspect_table(quotes=4) if row["aspect"] == "waiting")
    assert waiting["negative"] == len(comments)
    texts = [quote["text"] for quote in waiting["quotes"]]
    # Three places for complaints (no praise to keep one for): the repeated words once, then the other two.
    assert texts == ["Ужасно долго ждали в очереди.", "Ждали приёма сорок минут.", "Очередь двигалась медленно."] \
        or texts == ["Ужасно долго ждали в очереди.", "Очередь двигалась медленно.", "Ждали приёма сорок минут."]


def test_scorecard_indexes_are_the_overviews_figures_for_doctors_and_branches(app, tenant):
    import random

    from app.reputation.service import ReviewInput, index_overview, scorecard_indexes, store_reviews
    from tests.factories import make_branch, make_doctor

    branches = [make_branch(app, tenant.id, f"B{i}") for i in range(2)]
    doctors = [make_doctor(app, tenant.id, f"Doctor {i}") for i in range(3)]
    rng = random.Random(7)
    texts = ["Отличный врач", "Ужасно долго ждали", "Нормально", "", "Грубая регистратура"]
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id=str(i), rating=rng.choice([None, 1.0, 3.0, 4.5, 5.0]),
                                   text=rng.choice(texts) + f" {i}" * rng.randint(0, 1),
                                   published_on=date(2026, 1, 1) + timedelta(days=rng.randint(0, 300)),
                                   branch_id=rng.choice([None, *branches]), doctor_id=rng.choice([None, *doctors]))
                       for i in range(200)], origin="import")
        db.session.commit()
        as_of = date(2026, 9, 1)
        expected = {(s.scope, str(s.scope_id)): (s.index, s.confidence, s.reviews)
                    for s in index_overview(as_of) if s.scope in ("doctor", "branch")}
        got = {key: (s.index, s.confidence, s.reviews) for key, s in scorecard_indexes(as_of).items()}
    assert got == expected and len(got) == 5


def test_dashboard_shows_the_reputation_card(app, tenant, manager_client):
    from app.reputation.service import ReviewInput, compute_snapshots, store_reviews

    if "workspace.dashboard" not in app.view_functions:
        pytest.skip("no dashboard in this build")
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id="1", rating=5.0, text=""),
                       ReviewInput(site="x", site_review_id="2", rating=1.0, text="Нахамили в регистратуре.")],
                      origin="scrape")
        db.session.add(ReviewSource(url="https://prodoctorov.ru/moskva/lpu/1/", status="layout_changed",
                                    last_error="no reviews found"))
        compute_snapshots()
        db.session.commit()
    html = manager_client.get(tenant.url("dashboard")).get_data(as_text=True)
    # Headed like the dashboard's other figures.
    assert '<section class="card reputation-card kpi">\n  <h2>Web reputation index</h2>' in html
    # The card's alarms lead to the negative reviews and to the failing source.
    assert (f'<a class="error" href="{tenant.url("reputation/reviews?show=negative")}" id="card-new-negative">'
            "1 new negative this week</a>") in html
    assert f'<a class="error" href="{tenant.url("reputation/sources")}" id="card-failing-sources">1 source failing' in html
    details = f'<a href="{tenant.url("reputation")}">Reputation details</a>'
    assert details in html
    # On the reputation page itself the same card does not link to the page it is on.
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "reputation-card" in page and details not in page


def test_the_periodic_report_carries_the_web_reputation_of_its_period(app, tenant, other_tenant, manager_client):
    from app.reputation.service import ReviewInput, compute_snapshots, index_overview, store_reviews
    from tests.conftest import login

    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="2gis", site_review_id="1", rating=5.0, text="Отличный врач",
                                   published_on=date(2026, 3, 3)),
                       ReviewInput(site="2gis", site_review_id="2", rating=1.0, text="Нахамили в регистратуре",
                                   published_on=date(2026, 3, 20)),
                       ReviewInput(site="2gis", site_review_id="3", rating=4.0, text="",
                                   published_on=date(2026, 2, 10))], origin="csv")
        for day in (date(2026, 3, 1), date(2026, 3, 15), date(2026, 3, 31)):
            compute_snapshots(day)
        db.session.commit()
        at_end = index_overview(date(2026, 3, 31))[0]
        before = index_overview(date(2026, 2, 28), clinic_only=True)[0]
    with app.app_context(), tenant_scope(other_tenant.id):
        store_reviews([ReviewInput(site="zoon", site_review_id=str(n), rating=1.0, text="Плохо",
                                   published_on=date(2026, 3, 10)) for n in range(5)], origin="csv")
        db.session.commit()

    html = manager_client.get(tenant.url("dashboard/report?period=2026-03")).get_data(as_text=True)
    assert '<h2 id="report-reputation-title">Web reputation</h2>' in html
    # The index as the period ended, its last week's change and the change since February ended.
    assert f'Index on 2026-03-31: <strong class="stat">{at_end.index:.0f}</strong> / 100' in html
    assert f"over the week: {at_end.week_delta:+.1f}" in html
    assert f"since the previous period: {round(at_end.index - before.index, 1):+.1f}" in html
    # March's reviews only (February's is in the index, not in the count), and none of the other clinic's.
    assert "2 reviews written in the period: 1 negative, mean rating 3.0 of 5." in html
    assert 'id="reputation-trend' in html and "site: 2gis" in html and "zoon" not in html
    # What moves the index as the period ended: the doctor's praise up, the reception's rudeness down.
    with app.app_context(), tenant_scope(tenant.id):
        from app.reputation.service import index_drivers
        moves = index_drivers(today=date(2026, 3, 31))
        doctor = next(a for a in moves.aspects_up if a.aspect == "doctor")
        reception = next(a for a in moves.aspects_down if a.aspect == "reception")
    drivers = html.split('id="report-index-drivers"', 1)[1].split("</p>", 1)[0]
    assert f"Pulling the index up: Doctor ({doctor.impact:+.1f})" in drivers
    assert f"Pulling it down: Reception and administrators ({reception.impact:+.1f})" in drivers

    # A period still to come, or a clinic without the module, has no such section.
    future = manager_client.get(tenant.url("dashboard/report?period=2030-01"))
    assert future.status_code == 200 and "report-reputation" not in future.get_data(as_text=True)
    basic = make_clinic(app, "gamma", plan="basic")
    client = app.test_client()
    assert login(client, basic.owner_email).status_code == 302
    page = client.get(basic.url("dashboard/report?period=2026-03"))
    assert page.status_code == 200 and "report-reputation" not in page.get_data(as_text=True)


def test_short_or_missing_texts_of_different_patients_are_all_kept(app, tenant, manager_client):
    """Ratings without words, and ten patients' "Спасибо!", are different reviews; the same file twice adds none."""
    csv = ("date,rating,text,author\n2025-01-10,5,,Анна\n2025-01-10,1,,Борис\n2025-01-10,3,,Вера\n"
           "2025-01-11,5,Спасибо!,Галина\n2025-01-12,1,спасибо,Дмитрий\n")
    assert _import(manager_client, tenant, file=(io.BytesIO(csv.encode()), "r.csv")).status_code == 302
    assert _count(app, tenant.id) == 5
    assert _import(manager_client, tenant, file=(io.BytesIO(csv.encode()), "r.csv")).status_code == 302
    assert _count(app, tenant.id) == 5


def test_what_moves_the_index_is_shown_for_the_clinic_and_each_scope(app, tenant, other_tenant, manager_client):
    from app.reputation.index import ReviewSignal, reputation_drivers, reputation_index
    from app.reputation.service import ReviewInput, compute_snapshots, index_drivers, store_reviews
    from tests.factories import make_doctor

    doctor = make_doctor(app, tenant.id, "Иванова Ольга")
    with app.app_context(), tenant_scope(tenant.id):
        today = date(2026, 6, 30)
        store_reviews([
            ReviewInput(site="prodoctorov.ru", site_review_id="a", rating=5.0, published_on=today,
                        text="Врач очень внимательный, всё объяснила.", doctor_id=doctor),
            ReviewInput(site="prodoctorov.ru", site_review_id="b", rating=1.0, published_on=today - timedelta(days=3),
                        text="Ждали два часа в очереди, ужасно.", doctor_id=doctor),
            ReviewInput(site="2gis.ru", site_review_id="c", rating=4.0, published_on=today - timedelta(days=200),
                        text="Хорошая клиника."),
            ReviewInput(site="2gis.ru", site_review_id="d", rating=2.0, published_on=today - timedelta(days=400),
                        text="Грязно в туалете."),
        ], origin="scrape")
        drivers = index_drivers(today=today, top=10)
        # Every review's pull, up and down, adds up to the index's distance from the neutral 50.
        total = sum(pull for _, pull in drivers.reviews_up + drivers.reviews_down)
        rows = db.session.execute(select(ExternalReview.rating, ExternalReview.sentiment_polarity,
                                         ExternalReview.published_on)).all()
        index = reputation_index([ReviewSignal(r, s, float((today - d).days)) for r, s, d in rows]).index
        assert total == pytest.approx(index - 50) == pytest.approx(drivers.above_neutral)
        assert [item["excerpt"] for item, _ in drivers.reviews_up][0].startswith("Врач очень внимательный")
        assert [item["excerpt"] for item, _ in drivers.reviews_down][0].startswith("Ждали два часа")
        assert "waiting" in {a.aspect for a in drivers.aspects_down} and "doctor" in {a.aspect for a in drivers.aspects_up}
        # The doctor's own index moves by her two reviews only.
        hers = index_drivers(scope=("doctor", doctor), today=today)
        assert {item["site"] for item, _ in hers.reviews_up + hers.reviews_down} == {"prodoctorov.ru"}
        assert len(hers.reviews_up + hers.reviews_down) == 2
        assert index_drivers(scope=("doctor", doctor + 1000), today=today) is None
        assert reputation_drivers([]).reviews_up == ()
        compute_snapshots()
        db.session.commit()
    with app.app_context(), tenant_scope(other_tenant.id):
        store_reviews([ReviewInput(site="2gis.ru", site_review_id="x", rating=1.0, published_on=date(2026, 6, 29),
                                   text="Чужая клиника, чужой отзыв.")], origin="scrape")
        db.session.commit()

    overview = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert 'id="index-drivers"' in overview and "Врач очень внимательный" in overview
    assert "Чужая клиника" not in overview
    doctors_page = manager_client.get(tenant.url(f"reputation/reviews?scope=doctor&id={doctor}")).get_data(as_text=True)
    drivers_part = doctors_page.split('id="index-drivers"', 1)[1].split("</section>", 1)[0]
    assert "Ждали два часа" in drivers_part and "Хорошая клиника" not in drivers_part
    # One site's reviews, and the whole clinic's list, which the overview already explains.
    site_page = manager_client.get(tenant.url("reputation/reviews?site=2gis.ru")).get_data(as_text=True)
    assert "Грязно в туалете" in site_page.split('id="index-drivers"', 1)[1].split("</section>", 1)[0]
    assert 'id="index-drivers"' not in manager_client.get(tenant.url("reputation/reviews")).get_data(as_text=True)


def test_what_moves_the_index_is_left_out_without_reviews(app, tenant, manager_client):
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert 'id="index-drivers"' not in page and "What moves the index" not in page


def test_what_moves_the_clinics_index_today_is_kept_with_todays_snapshot(app, tenant, other_tenant):
    from app.reputation.service import (ReviewInput, _live_drivers, clinic_today, compute_snapshots, index_drivers,
                                        store_reviews)

    for clinic, text in ((tenant.id, "Врач внимательный"), (other_tenant.id, "Чужой отзыв, хамство")):
        with app.app_context(), tenant_scope(clinic):
            today = clinic_today()
            store_reviews([ReviewInput(site="2gis.ru", site_review_id=f"r{i}", rating=float(1 + i % 5),
                                       text=f"{text} {i}, ждали в очереди" if i % 2 else f"{text} {i}",
                                       published_on=today - timedelta(days=9 * i)) for i in range(12)],
                          origin="csv")
            compute_snapshots()
            db.session.commit()
    with app.app_context(), tenant_scope(tenant.id):
        snapshot = db.session.scalar(select(ReputationSnapshot).where(ReputationSnapshot.scope == "clinic",
                                                                      ReputationSnapshot.day == today))
        live = _live_drivers(None, None, today, 3)
        assert snapshot.drivers["total"] == pytest.approx(live.total)
        assert [row[0] for row in snapshot.drivers["reviews_up"]] == [d.review_id for d in live.reviews_up]
        assert [row[0] for row in snapshot.drivers["aspects_down"]] == [a.aspect for a in live.aspects_down]
        shown = index_drivers()
        assert [item["id"] for item, _ in shown.reviews_down] == [d.review_id for d in live.reviews_down]
        assert all(item["excerpt"].startswith("Врач") for item, _ in shown.reviews_up + shown.reviews_down)
        assert len(index_drivers(top=2).reviews_up) == 2
        # Today's figures come from the snapshot (a change to the reviews rewrites it) ...
        snapshot.drivers = dict(snapshot.drivers, total=12.5)
        db.session.commit()
        assert index_drivers().above_neutral == 12.5
        # ... another day's and a branch's go over the reviews.
        assert index_drivers(today=today - timedelta(days=1)).above_neutral == pytest.approx(
            _live_drivers(None, None, today - timedelta(days=1), 3).total)
        # A snapshot written before drivers were kept has none: they are computed.
        snapshot.drivers = None
        db.session.commit()
        assert index_drivers().above_neutral == pytest.approx(live.total)


def test_a_csv_with_a_reply_column_says_which_reviews_the_clinic_answered(app, tenant, manager_client):
    csv_text = ("date,rating,text,author,reply\n2025-01-10,1,Нахамили в регистратуре,Анна,Приносим извинения\n"
                "2025-01-11,2,Долго ждали приёма,Борис,\n")
    assert _import(manager_client, tenant, file=(io.BytesIO(csv_text.encode()), "r.csv")).status_code == 302
    plain = "date,rating,text,author\n2025-01-12,1,Потеряли анализы,Вера\n"
    assert _import(manager_client, tenant, file=(io.BytesIO(plain.encode()), "p.csv")).status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        replies = dict(db.session.execute(select(ExternalReview.author, ExternalReview.reply)).all())
    assert replies == {"Анна": "Приносим извинения", "Борис": "", "Вера": None}
    unanswered = manager_client.get(tenant.url("reputation/reviews?show=unanswered")).get_data(as_text=True)
    entries = unanswered.split('id="review-entries"', 1)[1]
    # Only Boris is known to be waiting: Vera's file did not say whether anyone answered her.
    assert "Долго ждали приёма" in entries and "Нахамили" not in entries and "Потеряли анализы" not in entries
    # The same file again with the answer written since: the stored review takes it, nothing is added.
    answered = csv_text.replace("Борис,\n", "Борис,Мы сократили ожидание\n")
    assert _import(manager_client, tenant, file=(io.BytesIO(answered.encode()), "r.csv")).status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ExternalReview)) == 3
        assert db.session.scalar(select(ExternalReview.reply).where(ExternalReview.author == "Борис")) == \
            "Мы сократили ожидание"


def test_the_card_counts_the_recent_complaints_not_replied_to(app, tenant, other_tenant, manager_client):
    from app.reputation.service import ReviewInput, clinic_today, dashboard_card, store_reviews

    for clinic in (tenant.id, other_tenant.id):
        with app.app_context(), tenant_scope(clinic):
            today = clinic_today()
            store_reviews([
                ReviewInput(site="x", site_review_id="1", rating=1.0, text="Нахамили", reply="",
                            published_on=today - timedelta(days=5)),
                ReviewInput(site="x", site_review_id="2", rating=2.0, text="Долго ждали", reply="",
                            published_on=today - timedelta(days=60)),
                ReviewInput(site="x", site_review_id="3", rating=1.0, text="Грубо", reply="Извините",
                            published_on=today - timedelta(days=10)),  # answered
                ReviewInput(site="x", site_review_id="4", rating=1.0, text="Потеряли анализы",
                            published_on=today - timedelta(days=10)),  # the page could not tell
                ReviewInput(site="x", site_review_id="5", rating=1.0, text="Давно было", reply="",
                            published_on=today - timedelta(days=200)),  # history
                ReviewInput(site="x", site_review_id="6", rating=5.0, text="Спасибо", reply="",
                            published_on=today - timedelta(days=3)),  # praise needs no answer
            ] + ([ReviewInput(site="x", site_review_id="7", rating=1.0, text="Чужая жалоба", reply="",
                              published_on=today - timedelta(days=1))] if clinic == other_tenant.id else []),
                origin="csv")
            db.session.commit()
    with app.app_context(), tenant_scope(tenant.id):
        assert dashboard_card()["unanswered"] == 2
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    link = tenant.url("reputation/reviews?show=unanswered")
    assert f'href="{link}" id="card-unanswered">2 complaints of the last 90 days not replied to</a>' in page
