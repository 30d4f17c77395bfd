"""The polite fetcher against a real HTTP server on 127.0.0.1 (random port, loopback only)."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import REVIEW_PAGES, needs_review_pages
from tests.loopback_site import Handler, LoopbackSite, Reply
from app.reputation.fetcher import (
    BLOCKED_ADDRESS,
    BLOCKED_BY_ROBOTS,
    CONNECTION_ERROR,
    HTTP_ERROR,
    INVALID_CONFIG,
    INVALID_URL,
    LAYOUT_CHANGED,
    NOT_MODIFIED,
    OK,
    TIMEOUT,
    TOO_LARGE,
    PoliteFetcher,
    fetch_source,
    parse_retry_after,
    user_agent,
)

CONTACT = "https://vernost.test/bot"


# --------------------------------------------------------------------------- test server


@pytest.fixture
def site():
    with LoopbackSite({"/robots.txt": Reply(404, b"")}) as loopback:
        yield loopback


class FakeTime:
    """A clock that only moves when the fetcher sleeps, recording every wait."""

    def __init__(self):
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        self.now += seconds


def make_fetcher(fake: FakeTime | None = None, **options) -> PoliteFetcher:
    fake = fake or FakeTime()
    options.setdefault("delay", 0.0)
    options.setdefault("timeout", 5.0)
    options.setdefault("allow_private", True)
    return PoliteFetcher(CONTACT, sleep=fake.sleep, clock=fake.clock, jitter=lambda: 0.0, **options)


def review_page(texts: list[str], next_href: str | None = None, rating_count: int = 3) -> bytes:
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "name": "Клиника",
        "aggregateRating": {"@type": "AggregateRating", "ratingValue": 4.5, "ratingCount": rating_count},
        "review": [
            {
                "@type": "Review",
                "author": f"Автор {index}",
                "datePublished": "2024-01-0" + str(index % 9 + 1),
                "reviewRating": {"ratingValue": 4 + index % 2},
                "reviewBody": text,
            }
            for index, text in enumerate(texts)
        ],
    }
    link = f'<link rel="next" href="{next_href}">' if next_href else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{link}"
        f"<script type='application/ld+json'>{json.dumps(data, ensure_ascii=False)}</script>"
        "</head><body><h1>Отзывы</h1></body></html>"
    ).encode("utf-8")


# --------------------------------------------------------------------------- basics


def test_user_agent_names_the_bot_and_contact(site):
    site.routes["/p"] = Reply(body=review_page(["Хорошо"]))
    result = fetch_source(site.url("/p"), fetcher=make_fetcher())
    assert result.status == OK
    agent = site.headers_of("/p")[0]["User-Agent"]
    assert agent.startswith("VernostBot/") and agent.endswith("(+https://vernost.test/bot)")
    assert site.headers_of("/robots.txt")[0]["User-Agent"] == agent
    with pytest.raises(ValueError):
        user_agent("")


def test_pagination_is_followed_up_to_the_limit(site):
    site.routes["/r"] = Reply(body=review_page(["первый", "второй"], "/r?page=2"))
    site.routes["/r?page=2"] = Reply(body=review_page(["третий"], "/r?page=3"))
    site.routes["/r?page=3"] = Reply(body=review_page(["четвёртый", "второй"], None))
    result = fetch_source(site.url("/r"), fetcher=make_fetcher(), max_pages=5)
    assert result.status == OK and result.complete
    assert [page.url for page in result.pages] == [site.url("/r"), site.url("/r?page=2"), site.url("/r?page=3")]
    # The review repeated on page 3 is not counted twice.
    assert [review.text for review in result.reviews] == ["первый", "второй", "третий", "четвёртый"]
    assert result.aggregate.rating == 4.5 and result.aggregate.count == 3

    limited = fetch_source(site.url("/r"), fetcher=make_fetcher(), max_pages=2)
    assert limited.status == OK and not limited.complete and len(limited.pages) == 2
    assert "max_pages" in limited.reason


def test_pagination_loop_and_other_host_are_not_followed(site):
    site.routes["/loop"] = Reply(body=review_page(["a"], "/loop2"))
    site.routes["/loop2"] = Reply(body=review_page(["b"], "/loop"))
    site.routes["/away"] = Reply(body=review_page(["c"], "http://other.invalid/next"))
    looped = fetch_source(site.url("/loop"), fetcher=make_fetcher(), max_pages=10)
    assert len(looped.pages) == 2 and any("already fetched" in w for w in looped.warnings)
    away = fetch_source(site.url("/away"), fetcher=make_fetcher())
    assert len(away.pages) == 1 and any("another host" in w for w in away.warnings)


def test_redirect_to_the_canonical_host_keeps_paginating(site):
    # Entered as localhost, the site moves the reader to 127.0.0.1: its next pages live there.
    entered = site.url("/start").replace("127.0.0.1", "localhost")
    site.routes["/start"] = Reply(301, b"", {"Location": site.url("/r")})
    site.routes["/r"] = Reply(body=review_page(["первый"], "/r?page=2"))
    site.routes["/r?page=2"] = Reply(body=review_page(["второй"]))
    result = fetch_source(entered, fetcher=make_fetcher(), max_pages=5)
    assert result.status == OK and result.complete, result.reason
    assert [review.text for review in result.reviews] == ["первый", "второй"]
    assert [page.url for page in result.pages] == [entered, site.url("/r?page=2")]
    assert not any("another host" in warning for warning in result.warnings)


# --------------------------------------------------------------------------- robots.txt


def test_robots_disallow_is_respected_and_cached(site):
    site.routes["/robots.txt"] = Reply(body=b"User-agent: VernostBot\nDisallow: /private\n\nUser-agent: *\nAllow: /\n")
    site.routes["/private/reviews"] = Reply(body=review_page(["секрет"]))
    site.routes["/public"] = Reply(body=review_page(["открыто"]))
    fetcher = make_fetcher()
    blocked = fetch_source(site.url("/private/reviews"), fetcher=fetcher)
    assert blocked.status == BLOCKED_BY_ROBOTS and "robots.txt" in blocked.reason
    assert "/private/reviews" not in site.hits
    assert fetch_source(site.url("/public"), fetcher=fetcher).status == OK
    assert site.hits["/robots.txt"] == 1


@pytest.mark.parametrize(
    ("robots", "path", "allowed"),
    [
        ("\ufeffUser-agent: *\nDisallow: /\n", "/reviews", False),  # a BOM before the first line
        ("User-agent: *\nAllow: /\nDisallow: /private\n", "/private", False),  # the longest match wins
        ("User-agent: *\nAllow: /\nDisallow: /private\n", "/public", True),
        ("User-agent: *\nDisallow: /*2\n", "/p2", False),
        ("User-agent: *\nDisallow: /*2\n", "/p1", True),
        ("User-agent: *\nDisallow: /*?page=\n", "/reviews?page=2", False),
        ("User-agent: *\nDisallow: /*?page=\n", "/reviews", True),
        ("User-agent: *\nDisallow: /*.php$\n", "/list.php", False),
        ("User-agent: *\nDisallow: /*.php$\n", "/list.php5", True),
        ("User-agent: *\nAllow: /private/open\nDisallow: /private\n", "/private/open/reviews", True),
    ],
)
def test_robots_rules_follow_rfc_9309(site, robots, path, allowed):
    site.routes["/robots.txt"] = Reply(body=robots.encode("utf-8"), headers={"Content-Type": "text/plain"})
    assert make_fetcher().robots_allows(site.url(path))[0] is allowed


def test_robots_with_a_bom_or_a_stray_byte_still_gives_its_rules_and_crawl_delay(site):
    site.routes["/robots.txt"] = Reply(
        body=b"\xef\xbb\xbfUser-agent: *\nCrawl-delay: 4\nDisallow: /caf\xe9\nDisallow: /*?page=\n",
        headers={"Content-Type": "text/plain"},
    )
    site.routes["/a"] = Reply(body=review_page(["первый"], "/a?page=2"))
    fake = FakeTime()
    result = fetch_source(site.url("/a"), fetcher=make_fetcher(fake, delay=0.5), max_pages=5)
    assert result.status == OK and not result.complete
    assert result.pages[1].status == BLOCKED_BY_ROBOTS
    assert "/a?page=2" not in site.hits
    assert fake.waits == [4.0]  # robots -> /a at Crawl-delay apart; page 2 was never requested


def test_unreachable_robots_means_disallow_and_missing_robots_means_allow(site):
    site.routes["/robots.txt"] = Reply(503, b"down")
    site.routes["/p"] = Reply(body=review_page(["x"]))
    result = fetch_source(site.url("/p"), fetcher=make_fetcher(max_retries=1))
    assert result.status == BLOCKED_BY_ROBOTS and "unreachable" in result.reason
    assert "/p" not in site.hits


def test_robots_crawl_delay_spaces_requests(site):
    site.routes["/robots.txt"] = Reply(body=b"User-agent: *\nCrawl-delay: 3\n")
    site.routes["/a"] = Reply(body=review_page(["a"], "/b"))
    site.routes["/b"] = Reply(body=review_page(["b"]))
    fake = FakeTime()
    result = fetch_source(site.url("/a"), fetcher=make_fetcher(fake, delay=0.5))
    assert result.status == OK and len(result.pages) == 2
    assert fake.waits == [3.0, 3.0]  # robots -> /a -> /b, each at least Crawl-delay apart


# --------------------------------------------------------------------------- politeness


def test_requests_to_one_host_are_spaced_by_the_delay(site):
    for index in range(3):
        nxt = f"/d{index + 1}" if index < 2 else None
        site.routes[f"/d{index}"] = Reply(body=review_page([f"текст {index}"], nxt))
    fake = FakeTime()
    result = fetch_source(site.url("/d0"), fetcher=make_fetcher(fake, delay=2.0))
    assert len(result.pages) == 3
    assert fake.waits == [2.0, 2.0, 2.0]  # robots.txt, then three pages


def test_one_request_at_a_time_per_host(site):
    for index in range(6):
        site.routes[f"/s{index}"] = Reply(body=review_page([f"отзыв {index}"]), pause=0.05)
    fetcher = PoliteFetcher(CONTACT, delay=0.0, allow_private=True)
    results: list = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(fetch_source(site.url(f"/s{i}"), fetcher=fetcher)))
        for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    fetcher.close()
    assert [r.status for r in results] == [OK] * 6
    assert site.max_in_flight == 1


def test_private_addresses_are_refused_unless_allowed(site):
    site.routes["/p"] = Reply(body=review_page(["x"]))
    result = fetch_source(site.url("/p"), contact_url=CONTACT, sleep=lambda s: None)
    assert result.status == BLOCKED_ADDRESS
    assert site.hits == {}


# --------------------------------------------------------------------------- failures and retries


def test_timeouts_are_retried_then_reported(site):
    site.routes["/slow"] = Reply(body=review_page(["медленно"]), pause=1.0)
    fake = FakeTime()
    result = fetch_source(site.url("/slow"), fetcher=make_fetcher(fake, timeout=0.3, max_retries=1, backoff=0.5))
    assert result.status == TIMEOUT
    assert result.pages[0].attempts == 2
    assert fake.waits == [0.5]


def test_429_with_retry_after_then_success(site):
    site.routes["/busy"] = [Reply(429, b"slow down", {"Retry-After": "7"}), Reply(body=review_page(["наконец"]))]
    fake = FakeTime()
    result = fetch_source(site.url("/busy"), fetcher=make_fetcher(fake, backoff=1.0))
    assert result.status == OK and [r.text for r in result.reviews] == ["наконец"]
    assert result.pages[0].attempts == 2
    assert fake.waits == [7.0]  # Retry-After beats the 1 s backoff


def test_retry_after_is_capped(site):
    site.routes["/busy"] = [Reply(429, b"", {"Retry-After": "86400"}), Reply(body=review_page(["ok"]))]
    fake = FakeTime()
    result = fetch_source(site.url("/busy"), fetcher=make_fetcher(fake, max_backoff=30.0))
    assert result.status == OK and fake.waits == [30.0]


def test_503_backs_off_exponentially_then_succeeds(site):
    site.routes["/flaky"] = [Reply(503, b""), Reply(503, b""), Reply(body=review_page(["работает"]))]
    fake = FakeTime()
    result = fetch_source(site.url("/flaky"), fetcher=make_fetcher(fake, backoff=1.0, max_retries=3))
    assert result.status == OK and result.pages[0].attempts == 3
    assert fake.waits == [1.0, 2.0]


def test_persistent_5xx_and_404_are_http_errors(site):
    site.routes["/down"] = Reply(500, b"oops")
    result = fetch_source(site.url("/down"), fetcher=make_fetcher(max_retries=2))
    assert (result.status, result.http_status, result.pages[0].attempts) == (HTTP_ERROR, 500, 3)
    missing = fetch_source(site.url("/nope"), fetcher=make_fetcher())
    assert (missing.status, missing.http_status, missing.pages[0].attempts) == (HTTP_ERROR, 404, 1)


def test_connection_refused_is_reported(site):
    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]
    result = fetch_source(f"http://127.0.0.1:{port}/x", fetcher=make_fetcher(max_retries=1, respect_robots=False))
    assert result.status == CONNECTION_ERROR and result.pages[0].attempts == 2


def test_oversized_response_is_refused(site):
    site.routes["/big"] = Reply(body=b"<html>" + b"x" * 50_000)
    result = fetch_source(site.url("/big"), fetcher=make_fetcher(max_bytes=10_000))
    assert result.status == TOO_LARGE


def test_redirects_are_followed(site):
    site.routes["/old"] = Reply(301, b"", {"Location": "/new"})
    site.routes["/new"] = Reply(body=review_page(["переехали"]))
    result = fetch_source(site.url("/old"), fetcher=make_fetcher())
    assert result.status == OK and [r.text for r in result.reviews] == ["переехали"]


def test_unusable_redirect_marks_the_source_instead_of_raising(site):
    site.routes["/moved"] = Reply(302, b"", {"Location": "http://[broken"})
    result = fetch_source(site.url("/moved"), fetcher=make_fetcher())
    assert result.status == INVALID_URL and "unusable redirect" in result.reason


def test_unparsable_next_page_link_ends_pagination(site):
    site.routes["/p"] = Reply(body=review_page(["одна страница"], next_href="http://[x"))
    result = fetch_source(site.url("/p"), fetcher=make_fetcher())
    assert result.status == OK and [r.text for r in result.reviews] == ["одна страница"] and len(result.pages) == 1


# --------------------------------------------------------------------------- conditional GET


def test_conditional_get_with_etag_gives_not_modified(site):
    body = review_page(["без изменений"])

    def etagged(handler: Handler) -> Reply:
        if handler.headers.get("If-None-Match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, body, {"ETag": '"v1"', "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT"})

    site.routes["/e"] = etagged
    first = fetch_source(site.url("/e"), fetcher=make_fetcher())
    assert first.status == OK and first.state["etag"] == '"v1"'
    assert first.state["last_modified"] == "Tue, 01 Oct 2024 10:00:00 GMT"

    second = fetch_source(site.url("/e"), state=first.state, fetcher=make_fetcher())
    assert second.status == NOT_MODIFIED and second.http_status == 304 and second.reviews == []
    sent = site.headers_of("/e")[-1]
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Tue, 01 Oct 2024 10:00:00 GMT"
    assert second.state["etag"] == '"v1"'


def test_a_failed_later_page_is_fetched_again_on_the_next_run(site):
    def etagged(handler: Handler) -> Reply:
        if handler.headers.get("If-None-Match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, review_page(["первый"], "/e?page=2"),
                     {"ETag": '"v1"', "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT"})

    site.routes["/e"] = etagged
    site.routes["/e?page=2"] = [Reply(503, b""), Reply(503, b""), Reply(body=review_page(["второй"]))]
    first = fetch_source(site.url("/e"), fetcher=make_fetcher(max_retries=1))
    assert first.status == OK and not first.complete and "page 2" in first.reason
    assert not {"etag", "last_modified", "content_hash"} & set(first.state)

    second = fetch_source(site.url("/e"), state=first.state, fetcher=make_fetcher(max_retries=1))
    assert second.status == OK and second.complete, second.reason
    assert [review.text for review in second.reviews] == ["первый", "второй"]
    assert second.state["etag"] == '"v1"'  # complete again: the next run may skip an unchanged page


def test_identical_content_without_validators_is_not_modified(site):
    site.routes["/same"] = Reply(body=review_page(["то же самое"]))
    first = fetch_source(site.url("/same"), fetcher=make_fetcher())
    second = fetch_source(site.url("/same"), state=first.state, fetcher=make_fetcher())
    assert (first.status, second.status) == (OK, NOT_MODIFIED)


# --------------------------------------------------------------------------- page problems


def test_malformed_html_does_not_crash(site):
    site.routes["/broken"] = Reply(
        body=b"<html><head><script type='application/ld+json'>{\"@type\":\"Review\",\"reviewBody\":\"ok\""
        b"</script><body><div><p>unclosed <table><tr><td>\xff\xfe"
    )
    site.routes["/garbage"] = Reply(body=bytes(range(256)) * 10, headers={"Content-Type": "application/octet-stream"})
    site.routes["/empty"] = Reply(body=b"")
    for path in ("/broken", "/garbage", "/empty"):
        result = fetch_source(site.url(path), fetcher=make_fetcher())
        assert result.status in (OK, LAYOUT_CHANGED), (path, result.status, result.reason)


def test_changed_layout_is_reported_as_layout_changed(site):
    site.routes["/redesigned"] = Reply(body=b"<html><body><div class='new-review-widget'>5 stars</div></body></html>")
    result = fetch_source(site.url("/redesigned"), fetcher=make_fetcher(), site="prodoctorov")
    assert result.status == LAYOUT_CHANGED and "no review containers matched" in result.reason
    assert "content_hash" not in result.state  # the next run must look again


def test_invalid_selector_config_is_reported(site):
    result = fetch_source(site.url("/x"), fetcher=make_fetcher(), selector_config={"review": "div["})
    assert result.status == INVALID_CONFIG and "invalid CSS selector" in result.reason
    assert site.hits == {}


def test_operator_selector_config_over_http(site):
    site.routes["/clinic"] = Reply(
        body="<html><body><div class='rv'><b>Анна</b><p>Спасибо доктору</p><i data-r='5'></i></div>"
        "<a class='more' href='/clinic?p=2'>ещё</a></body></html>".encode()
    )
    site.routes["/clinic?p=2"] = Reply(
        body="<html><body><div class='rv'><b>Олег</b><p>Нормально</p><i data-r='3'></i></div></body></html>".encode()
    )
    config = {"review": ".rv", "author": "b", "text": "p", "rating": {"select": "i", "attr": "data-r"}, "next_page": "a.more"}
    result = fetch_source(site.url("/clinic"), fetcher=make_fetcher(), selector_config=config)
    assert [(r.author, r.rating) for r in result.reviews] == [("Анна", 5.0), ("Олег", 3.0)]


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("²") is None  # str.isdigit says yes, float() says no


def test_a_stray_byte_does_not_make_a_utf8_page_single_byte(site):
    texts = [f"Отзыв номер {index}: врач внимательно выслушал, всё объяснил и назначил лечение, которое помогло."
             for index in range(12)]
    page = review_page(texts)
    site.routes["/stray"] = Reply(body=page.replace("Отзывы".encode(), "Отзывы".encode() + b"\xff"))
    result = fetch_source(site.url("/stray"), fetcher=make_fetcher())
    assert result.status == OK and result.pages[0].encoding == "utf-8"
    assert [review.text for review in result.reviews] == texts

    # Real windows-1251 bytes under a UTF-8 claim fail UTF-8 everywhere and stay windows-1251.
    site.routes["/cp1251"] = Reply(body=page.decode("utf-8").encode("cp1251"))
    legacy = fetch_source(site.url("/cp1251"), fetcher=make_fetcher())
    assert legacy.pages[0].encoding == "cp1251" and [review.text for review in legacy.reviews] == texts


# --------------------------------------------------------------------------- the saved pages over loopback


@needs_review_pages
def test_saved_pages_served_over_loopback(site):
    truth = json.loads((REVIEW_PAGES / "ground_truth.json").read_text(encoding="utf-8"))
    fetcher = make_fetcher()
    for name, expected in sorted(truth.items()):
        path = "/saved/" + name
        # Served as the sites do: always claiming UTF-8, whatever the bytes are.
        site.routes[path] = Reply(body=(REVIEW_PAGES / name).read_bytes(), headers={"Content-Type": "text/html; charset=UTF-8"})
        result = fetch_source(site.url(path), fetcher=fetcher, site=name.split("/")[0], max_pages=1)
        assert result.status == OK, (name, result.reason)
        assert len(result.reviews) == expected["review_count"], name
        assert result.pages[0].encoding == expected["encoding"], name
    fetcher.close()


def test_fetcher_accepts_a_callers_client(site):
    site.routes["/p"] = Reply(body=review_page(["клиент"]))
    with httpx.Client() as client:
        result = fetch_source(
            site.url("/p"), client=client, contact_url=CONTACT, delay=0, allow_private=True, sleep=lambda s: None
        )
        assert result.status == OK
        assert not client.is_closed
