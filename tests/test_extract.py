"""Review extraction checked against real saved pages and their hand-read ground truth.

The pages live outside the repository (``../shared/data/review-pages`` beside the clone,
or ``$VERNOST_SHARED_DATA``); they are read in place, never copied.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import pytest

from app.reputation.dates import parse_review_date
from app.reputation.encoding import decode_html
from app.reputation.extract import (
    ExtractedPage,
    LayoutChanged,
    NoReviewData,
    SelectorConfigError,
    detect_site,
    extract_page,
    normalise_rating,
    review_key,
    validate_selector_config,
)
from app.reputation.sites import SITES
from tests.conftest import REVIEW_PAGES, needs_review_pages

# The reference date the ground truth was read against ("a week ago" on Google Maps is
# resolved against it; year-less ProDoctorov dates must not land after it).
TODAY = date(2026, 7, 20)


def _ground_truth() -> dict:
    path = REVIEW_PAGES / "ground_truth.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


GROUND_TRUTH = _ground_truth()
PAGE_NAMES = sorted(GROUND_TRUTH) or ["(no pages)"]
_PAGE_CACHE: dict[str, ExtractedPage] = {}


def _page_bytes(name: str) -> bytes:
    return (REVIEW_PAGES / name).read_bytes()


def _extracted(name: str) -> ExtractedPage:
    if name not in _PAGE_CACHE:
        _PAGE_CACHE[name] = extract_page(_page_bytes(name), today=TODAY)
    return _PAGE_CACHE[name]


def _norm(text: str) -> str:
    return " ".join(str(text).split())


def _number(value) -> float:
    return float(re.search(r"\d+(?:[.,]\d+)?", str(value)).group(0).replace(",", "."))


_RUSSIAN_MONTHS = [
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
]


def _expected_date(raw: str) -> str:
    """The ground truth's date in ISO form; relative Google dates resolve against TODAY."""
    relative = {"a week ago": TODAY - timedelta(days=7), "4 weeks ago": TODAY - timedelta(days=28)}
    if raw in relative:
        return relative[raw].isoformat()
    if raw == "a month ago":
        return date(TODAY.year, TODAY.month - 1, TODAY.day).isoformat()
    if re.match(r"\d{4}-\d{2}-\d{2}", raw):
        return raw[:10]
    russian = re.fullmatch(r"(\d{1,2}) (\w+) (\d{4})", raw)
    if russian:
        month = _RUSSIAN_MONTHS.index(russian.group(2)) + 1
        return date(int(russian.group(3)), month, int(russian.group(1))).isoformat()
    return datetime.strptime(raw, "%B %d, %Y").date().isoformat()


def _expected_aggregate(truth: dict) -> tuple[float | None, int | None]:
    agg = truth.get("aggregate", {})
    best = _number(agg["bestRating"]) if "bestRating" in agg else 5.0
    if "microdata_ratingValue" in agg:
        rating = _number(agg["microdata_ratingValue"]) * 5 / best
    elif "ratingValue" in agg:
        rating = _number(agg["ratingValue"]) * 5 / best
    elif "visible" in agg:
        rating = _number(agg["visible"])
    else:
        rating = None
    count = None
    for key in ("ratingCount", "reviewCount", "review_total"):
        if key in agg:
            count = int(_number(agg[key]))
            break
    if count is None and "visible" in agg:
        numbers = re.findall(r"\d+", agg["visible"].split(";")[-1])
        count = int(numbers[0]) if numbers else None
    return rating, count


def _find_review(page: ExtractedPage, sample: dict):
    if sample.get("review_id"):
        for review in page.reviews:
            if review.site_review_id == sample["review_id"]:
                return review
    prefix = _norm(sample.get("text_first60_normalized") or sample.get("text_first60") or "")
    for review in page.reviews:
        if review.author == sample["author"] and _norm(review.text).startswith(prefix[:40]):
            return review
    raise AssertionError(f"sample review by {sample['author']!r} not found")


# --------------------------------------------------------------------------- per page


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_encoding_matches_ground_truth(name):
    assert _extracted(name).encoding == GROUND_TRUTH[name]["encoding"]


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_review_count_matches_ground_truth(name):
    assert len(_extracted(name).reviews) == GROUND_TRUTH[name]["review_count"]


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_site_is_detected_from_html_alone(name):
    assert _extracted(name).site == name.split("/")[0]


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_aggregate_matches_ground_truth(name):
    page = _extracted(name)
    truth = GROUND_TRUTH[name]
    rating, count = _expected_aggregate(truth)
    if "category" in str(truth["aggregate"].get("jsonld_type", "")):
        # A category list's aggregate covers every clinic; it must not pass for one clinic's.
        assert page.aggregate.rating is None and page.aggregate.count is None
        assert page.category_aggregate is not None
        assert page.category_aggregate.rating == pytest.approx(rating, abs=0.01)
        assert page.category_aggregate.count == count
        return
    assert page.aggregate.rating == pytest.approx(rating, abs=0.051)
    assert page.aggregate.count == count


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_sampled_reviews_match_ground_truth(name):
    page = _extracted(name)
    for sample in GROUND_TRUTH[name]["samples"]:
        review = _find_review(page, sample)
        assert review.author == sample["author"]
        assert review.date == _expected_date(str(sample["date"])), sample
        # Ground truth shows ratings as the site displays them (one decimal).
        assert review.rating == pytest.approx(_number(sample["rating"]), abs=0.051), sample
        prefix = _norm(sample.get("text_first60_normalized") or sample.get("text_first60"))
        assert _norm(review.text).startswith(prefix), (review.text[:80], prefix)
        if sample.get("hidden_continuation"):
            assert _norm(review.text).endswith(_norm(sample["hidden_continuation"]))
        if sample.get("text_sections"):
            assert [section["title"] for section in review.sections] == sample["text_sections"]
        if sample.get("reviewed_org"):
            assert review.subject == sample["reviewed_org"]


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_review_is_well_formed(name):
    page = _extracted(name)
    keys = set()
    for review in page.reviews:
        assert review.text and review.text == _norm(review.text)
        assert "&apos;" not in review.text and "&#39;" not in review.text and "&amp;" not in review.text
        assert review.rating is None or 0 <= review.rating <= 5
        assert review.date is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", review.date)
        assert review.date is None or review.date <= TODAY.isoformat()
        keys.add(review_key(page.site, review.site_review_id, review.text))
    assert len(keys) == len(page.reviews), "dedup keys must tell the page's reviews apart"
    json.dumps(page.to_json_dict(), ensure_ascii=False)


# --------------------------------------------------------------------------- site specifics


@needs_review_pages
def test_prodoctorov_clinic_replies_are_kept_out_of_review_text():
    page = _extracted("prodoctorov/vidnoe-tsukanova-reviews.html")
    with_reply = [review for review in page.reviews if review.reply]
    assert len(with_reply) == 15
    for review in with_reply:
        assert review.reply not in review.text
        assert "Благодарим за отзыв" not in review.text
        assert "Администрация" not in review.text


@needs_review_pages
def test_prodoctorov_sections_keep_their_titles_except_the_story():
    page = _extracted("prodoctorov/moskva-hafez-profile.html")
    review = next(r for r in page.reviews if r.site_review_id == "7106183")
    assert not review.text.startswith("История пациента")
    assert "Понравилось:" in review.text and "Не понравилось:" in review.text


@needs_review_pages
def test_prodoctorov_year_is_inferred_when_only_the_visible_date_is_left():
    # Drop the microdata dates: the visible "7 апреля в 14:08" has no year.
    content = re.sub(rb'content="\d{4}-\d{2}-\d{2}"', b"", _page_bytes("prodoctorov/vidnoe-tsukanova-reviews.html"))
    page = extract_page(content, today=TODAY)
    by_id = {review.site_review_id: review for review in page.reviews}
    assert by_id["6984215"].date == "2026-04-07"
    assert by_id["6272726"].date == "2025-09-26"
    # Seen from early March, an April date with no year is last year's.
    page = extract_page(content, today=date(2026, 3, 1))
    assert {r.site_review_id: r for r in page.reviews}["6984215"].date == "2025-04-07"


@needs_review_pages
def test_windows_1251_page_declaring_utf8_is_decoded_as_cp1251():
    decoded = decode_html(_page_bytes("prodoctorov/vidnoe-tsukanova-reviews.html"))
    assert decoded.declared == "utf-8"
    assert decoded.encoding == "cp1251"
    assert "Цуканова Ольга Владимировна" in decoded.text


@needs_review_pages
def test_google_maps_owner_reply_is_not_review_text():
    page = _extracted("google_maps/tipsy-sticks-place-en.html")
    review = next(r for r in page.reviews if r.author == "Ana Maria Garcia")
    assert review.reply == "Thank you for your review Ana Maria 😀"
    assert "Thank you for your review" not in review.text
    # The layout shows where a reply goes: a review without one has none, which is known, not unknown.
    assert next(r for r in page.reviews if r.author == "Nikolas Melillos").reply == ""


def test_google_maps_pages_saved_from_earlier_layouts_are_read():
    # The 2021 layout: generated "ODSEW-ShBeI" classes, stars only in an aria-label.
    layout_2021 = _html(
        """<h1>Клиника «Здоровье»</h1><div class="ODSEW-ShBeI NIyLF-haAclf gm2-body-2" data-review-id="g1"
        aria-label="Анна Петрова"><div class="ODSEW-ShBeI-content"><div class="ODSEW-ShBeI-title"><span>Анна Петрова</span></div>
        <span class="ODSEW-ShBeI-H1e3jb" aria-label=" 2 звезды "></span><span class="ODSEW-ShBeI-RgZmSc-date">2 недели назад</span>
        <span class="ODSEW-ShBeI-text">Долго ждали в регистратуре.</span></div></div>
        <div class="ODSEW-ShBeI NIyLF-haAclf gm2-body-2" data-review-id="g2"><div class="ODSEW-ShBeI-content">
        <div class="ODSEW-ShBeI-title"><span>Олег</span></div><span class="ODSEW-ShBeI-H1e3jb" aria-label=" 5 звёзд "></span>
        <span class="ODSEW-ShBeI-RgZmSc-date">месяц назад</span><span class="ODSEW-ShBeI-text">Врач всё объяснил.</span></div></div>""",
        head='<link rel="canonical" href="https://www.google.ru/maps/place/Zdorovye">',
    )
    page = extract_page(layout_2021, today=TODAY)
    assert page.site == "google_maps"
    assert [(r.site_review_id, r.author, r.rating, r.date, r.text) for r in page.reviews] == [
        ("g1", "Анна Петрова", 2.0, "2026-07-06", "Долго ждали в регистратуре."),
        ("g2", "Олег", 5.0, "2026-06-20", "Врач всё объяснил."),
    ]
    # The 2019-2020 layout: "section-review" classes; the owner's answer reuses the text class.
    layout_2019 = _html(
        """<div class="section-review ripple-container" data-review-id="s1"><div class="section-review-content">
        <div class="section-review-title"><span>Kate Miller</span></div>
        <span class="section-review-stars" role="img" aria-label=" 1 star "></span>
        <span class="section-review-publish-date">a month ago</span>
        <div class="section-review-review-content"><span class="section-review-text">Nobody answered the phone.</span></div>
        <div class="section-review-owner-response"><div class="section-review-owner-response-subtitle">a week ago</div>
        <span class="section-review-text">We are sorry, please call us again.</span></div></div></div>""",
    )
    [review] = extract_page(layout_2019, url="https://www.google.co.uk/maps/place/Clinic", today=TODAY).reviews
    assert (review.site_review_id, review.author, review.rating, review.date, review.text, review.reply) == (
        "s1", "Kate Miller", 1.0, "2026-06-20", "Nobody answered the phone.", "We are sorry, please call us again.")


@needs_review_pages
def test_trustpilot_json_ld_and_cards_are_merged():
    page = _extracted("trustpilot/roof-shield-ayrshire.html")
    review = next(r for r in page.reviews if r.author == "Eva Brown")
    assert review.title == "Fed up with the unfinished job"
    assert review.site_review_id == "5fdde853755dc10b48282b14"  # only the HTML card has it


@needs_review_pages
def test_yelp_javascript_shell_falls_back_to_json_ld_and_unescapes_entities():
    page = _extracted("yelp/a-parker-contracting.html")
    assert {review.source for review in page.reviews} == {"json-ld"}
    assert any("Al's crew" in review.text for review in page.reviews)


@needs_review_pages
def test_next_page_links():
    assert _extracted("ratemds/dentist-pada-kelowna-bc.html").next_page_url.endswith(
        "Dr-Hilary-Pada-Kelowna-BC.html?page=2"
    )
    assert _extracted("yelp/mobile-iphone-ipad-screen-repair-sd-2016.html").next_page_url.endswith("?start=20")
    # The Zoon page shown is the last one: its pager's "next" is disabled.
    assert _extracted("zoon/krasnodar-polikliniki-list.html").next_page_url is None
    assert _extracted("ratemds/family-gp-blanchet-quebec-qc-fr.html").next_page_url is None


@needs_review_pages
def test_changed_layout_raises_layout_changed():
    content = _page_bytes("prodoctorov/moskva-hafez-profile.html")
    # A redesign: new class names and no microdata.
    content = content.replace(b"b-review-card", b"rv-card-2027").replace(b"itemprop", b"data-prop")
    content = content.replace(b"itemscope", b"data-scope").replace(b"itemtype", b"data-type")
    with pytest.raises(LayoutChanged) as raised:
        extract_page(content, url="https://prodoctorov.ru/moskva/vrach/975987-hafez/")
    assert raised.value.site == "prodoctorov"
    assert "no review containers matched" in raised.value.reason


@needs_review_pages
def test_containers_without_readable_fields_raise_layout_changed():
    content = _page_bytes("prodoctorov/moskva-hafez-profile.html")
    # The cards are still there but their insides were renamed and the microdata dropped.
    for old in (b"b-review-card__comment", b"itemprop", b"itemscope", b"review-card-tooltips__stars"):
        content = content.replace(old, b"x-renamed")
    with pytest.raises(LayoutChanged, match="container\\(s\\) matched .* but no text or rating"):
        extract_page(content, site="prodoctorov")


@needs_review_pages
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_truncated_pages_do_not_crash(name):
    content = _page_bytes(name)
    for cut in (0, 1, len(content) // 3, len(content) // 2):
        try:
            page = extract_page(content[:cut], today=TODAY)
        except LayoutChanged:
            continue
        assert isinstance(page, ExtractedPage)


# --------------------------------------------------------------------------- synthetic pages


def _html(body: str, head: str = "") -> bytes:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode()


def test_json_ld_reviews_and_aggregate_from_any_site():
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {
                "@type": "MedicalClinic",
                "name": "Clinic",
                "aggregateRating": {"@type": "AggregateRating", "ratingValue": "9.2", "bestRating": "10", "reviewCount": "41"},
                "review": [
                    {
                        "@type": "Review",
                        "author": {"@type": "Person", "name": "Anna"},
                        "datePublished": "2024-02-03",
                        "reviewRating": {"@type": "Rating", "ratingValue": 8, "bestRating": 10},
                        "reviewBody": "Haven&apos;t seen   a better &amp; kinder doctor",
                    }
                ],
            }
        ],
    }
    page = extract_page(_html("", f"<script type='application/ld+json'>{json.dumps(data)}</script>"))
    assert page.aggregate.rating == pytest.approx(4.6)
    assert page.aggregate.count == 41
    [review] = page.reviews
    assert (review.author, review.date, review.rating) == ("Anna", "2024-02-03", 4.0)
    assert review.text == "Haven't seen a better & kinder doctor"
    assert review.reply is None  # schema.org data cannot say whether the business replied


def test_rdfa_reviews_are_read():
    body = """
    <div vocab="https://schema.org/" typeof="LocalBusiness">
      <span property="name">Clinic</span>
      <div property="aggregateRating" typeof="AggregateRating">
        <span property="ratingValue">4.5</span> of 5, <span property="reviewCount">12</span> reviews
      </div>
      <div property="review" typeof="Review">
        <span property="author" typeof="Person"><span property="name">Boris</span></span>
        <meta property="datePublished" content="2023-05-06">
        <div property="reviewRating" typeof="Rating"><span property="ratingValue">3</span></div>
        <p property="reviewBody">Long wait but a good result.</p>
      </div>
    </div>"""
    page = extract_page(_html(body))
    assert page.aggregate.rating == 4.5 and page.aggregate.count == 12
    [review] = page.reviews
    assert (review.author, review.date, review.rating, review.source) == ("Boris", "2023-05-06", 3.0, "rdfa")
    assert review.text == "Long wait but a good result."


def test_microdata_on_a_100_point_scale_is_normalised():
    body = """
    <div itemscope itemtype="http://schema.org/Review">
      <span itemprop="author">Vera</span>
      <div itemprop="reviewRating" itemscope itemtype="http://schema.org/Rating">
        <meta itemprop="ratingValue" content="95"><meta itemprop="bestRating" content="100">
      </div>
      <div itemprop="reviewBody">Внимательный врач</div>
    </div>"""
    [review] = extract_page(_html(body)).reviews
    assert review.rating == 4.75 and review.author == "Vera"


def test_unknown_page_without_review_data_raises_no_review_data():
    with pytest.raises(NoReviewData):
        extract_page(_html("<p>Just a page</p>"), url="https://example.org/about")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02", b"<html><body><div><p>unclosed <b>tags", b"<?xml version='1.0' encoding='utf-8'?><html/>",
     b"<div itemscope itemtype='http://schema.org/Review'><span itemprop='reviewBody'>ok</span>",
     b"<script type='application/ld+json'>{not json</script>", b"\xff\xfe\xfa garbage \xc3"],
)
def test_malformed_html_never_crashes(content):
    try:
        page = extract_page(content)
    except LayoutChanged:
        return
    assert isinstance(page, ExtractedPage)


OPERATOR_CONFIG = {
    "name": "napopravku-like",
    "review": "div.review",
    "author": ".who",
    "date": {"select": "time", "attr": "datetime"},
    "rating": {"select": ".stars", "attr": "data-score", "scale": 10},
    "text": ".body",
    "id": {"attr": "data-id"},
    "reply": ".answer",
    "reply_text": ".answer-body",
    "exclude": ".more",
    "next_page": "a.next",
    "aggregate_rating": ".summary .score",
    "aggregate_count": {"select": ".summary .count", "regex": r"(\d+)"},
    "rating_scale": 10,
}

OPERATOR_PAGE = _html(
    """
    <div class="summary"><span class="score">8.6</span><span class="count">(37 отзывов)</span></div>
    <div class="review" data-id="r1"><span class="who">Ирина</span><time datetime="2024-03-05">5 марта</time>
      <span class="stars" data-score="10"></span>
      <div class="body">Всё понравилось <span class="more">ещё</span></div>
      <div class="answer"><b>Клиника</b><div class="answer-body">Спасибо!</div></div></div>
    <div class="review" data-id="r2"><span class="who">Олег</span><time datetime="2024-03-01"></time>
      <span class="stars" data-score="4"></span><div class="body">Долго ждал</div></div>
    <a class="next" href="/clinic/reviews?page=2">Дальше</a>
    """
)


def test_operator_selector_config_reads_a_site_without_an_adapter():
    page = extract_page(OPERATOR_PAGE, url="https://napopravku.ru/clinic/reviews", selector_config=OPERATOR_CONFIG)
    assert page.site == "napopravku"
    assert page.aggregate.rating == 4.3 and page.aggregate.count == 37
    assert page.next_page_url == "https://napopravku.ru/clinic/reviews?page=2"
    first, second = page.reviews
    assert (first.author, first.date, first.rating, first.text, first.reply) == (
        "Ирина", "2024-03-05", 5.0, "Всё понравилось", "Спасибо!",
    )
    # The config says where replies go, so a review without one has none ("", not unknown).
    assert (second.site_review_id, second.rating, second.reply) == ("r2", 2.0, "")
    without_replies = {key: value for key, value in OPERATOR_CONFIG.items() if key not in ("reply", "reply_text")}
    assert extract_page(OPERATOR_PAGE, selector_config=without_replies).reviews[1].reply is None


def test_operator_selector_config_with_xpath():
    config = {"review": "//div[@class='review']", "text": "./div[@class='body']", "author": "./span[@class='who']/text()"}
    page = extract_page(OPERATOR_PAGE, selector_config=config)
    assert [r.author for r in page.reviews] == ["Ирина", "Олег"]


def test_operator_selector_config_that_finds_nothing_raises_layout_changed():
    config = dict(OPERATOR_CONFIG, review="div.review-card-v2")
    with pytest.raises(LayoutChanged) as raised:
        extract_page(OPERATOR_PAGE, url="https://napopravku.ru/clinic/reviews", selector_config=config)
    assert "div.review-card-v2" in str(raised.value)


def test_invalid_selector_config_lists_every_problem():
    with pytest.raises(SelectorConfigError) as raised:
        validate_selector_config(
            {
                "reviews": ".r",
                "text": "div[",
                "rating": {"select": ".s", "regex": "(", "scale": -1, "atr": "x"},
                "date_order": "ymd",
                "next_page": "//a[",
            }
        )
    message = str(raised.value)
    assert "unknown key 'reviews' (did you mean 'review'?)" in message
    assert "'review' (the selector of one review's container) is required" in message
    assert "text: invalid CSS selector 'div['" in message
    assert "rating.regex: invalid regular expression" in message
    assert "rating.scale: must be a positive number" in message
    assert "unknown option 'atr' (did you mean 'attr'?)" in message
    assert "date_order: must be 'dmy' or 'mdy'" in message
    assert "next_page: invalid XPath" in message
    with pytest.raises(SelectorConfigError, match="must be an object"):
        validate_selector_config(["not", "a", "dict"])


def test_built_in_site_configs_are_valid():
    for adapter in SITES.values():
        if adapter.selectors is not None:
            validate_selector_config(adapter.selectors)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://prodoctorov.ru/vidnoe/vrach/324163-cukanova/otzivi/", "prodoctorov"),
        ("https://zoon.ru/krasnodar/medical/type/poliklinika_dlya_vzroslyh/", "zoon"),
        ("https://www.ratemds.com/doctor-ratings/134913/Dr-Hilary-Pada-Kelowna-BC.html", "ratemds"),
        ("https://www.yelp.com/biz/a-parker-contracting-bear", "yelp"),
        ("https://www.trustpilot.com/review/example.co.uk", "trustpilot"),
        ("https://www.google.com/maps/place/Tipsy+Sticks", "google_maps"),
        ("https://www.google.com/search?q=clinic", None),
        ("https://www.google.de/maps/place/Praxis", "google_maps"),
        ("https://www.google.com.br/maps/place/Clinica", "google_maps"),
        ("https://maps.google.co.uk/maps?cid=1", "google_maps"),
        ("https://www.google.evil.example/maps/place/x", None),
        ("https://notgoogle.de/maps/place/x", None),
        ("https://www.yelp.de/biz/praxis-berlin", "yelp"),
        ("https://www.yelp.com.au/biz/clinic-sydney", "yelp"),
        ("https://uk.trustpilot.com/review/example.co.uk", "trustpilot"),
        ("https://napopravku.ru/moskva/clinics/x/otzivy/", "napopravku"),
        ("https://2gis.ru/moscow/firm/1/tab/reviews", "2gis"),
        ("https://yandex.ru/maps/org/clinic/1/reviews/", "yandex_maps"),
        ("https://otzovik.com/reviews/clinic/", "otzovik"),
        ("https://example.org/", None),
    ],
)
def test_detect_site_from_url(url, site):
    assert detect_site(url) == site


def test_review_key_is_stable():
    assert review_key("prodoctorov", "6984215", "whatever") == "prodoctorov:id:6984215"
    a = review_key("zoon", None, "Отличная  поликлиника!")
    assert a == review_key("zoon", None, "отличная поликлиника") == review_key("ZOON", "", " Отличная поликлиника ")
    assert a != review_key("zoon", None, "Плохая поликлиника")
    assert a != review_key("yelp", None, "Отличная поликлиника")


def test_normalise_rating():
    assert normalise_rating("100", best="100") == 5.0
    assert normalise_rating("75", best=100) == 3.75
    assert normalise_rating("4,5") == 4.5
    assert normalise_rating("8", scale=10) == 4.0
    assert normalise_rating("80") == 4.0
    assert normalise_rating("7") == 3.5
    assert normalise_rating("n/a") is None


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("7 апреля в 14:08", "2026-04-07"),
        ("25 декабря в 10:00", "2025-12-25"),
        ("26 сентября 2025 в 12:47", "2025-09-26"),
        ("вчера в 21:15", "2026-07-19"),
        ("сегодня", "2026-07-20"),
        ("позавчера", "2026-07-18"),
        ("3 дня назад", "2026-07-17"),
        ("Submitted March 4, 2018", "2018-03-04"),
        ("4/16/2016", "2016-04-16"),
        ("16.09.2022", "2022-09-16"),
        ("16 avril 2018", "2018-04-16"),
        ("le 1er août 2020", "2020-08-01"),
        ("il y a 2 jours", "2026-07-18"),
        ("a week ago", "2026-07-13"),
        ("2 years ago", "2024-07-20"),
        ("2020-12-19T11:47:31+00:00", "2020-12-19"),
        ("29 февраля", "2024-02-29"),
        ("Приём был в марте", None),
        ("", None),
        ("٣ дня назад", "2026-07-17"),  # Arabic-Indic digits are digits
        ("5000000 years ago", None),
        ("30 minutes ago", "2026-07-20"),  # was read as 30 days
        ("5 hours ago", "2026-07-20"),
        ("il y a 3 heures", "2026-07-20"),
        ("2 часа назад", "2026-07-20"),  # no review is that old: no date rather than a crash
        ("999999999 месяцев назад", None),
        ("полгода назад", "2026-01-20"),  # was read as a year ago
        ("полтора года назад", "2025-01-20"),
        ("полтора месяца назад", "2026-06-08"),
    ],
)
def test_review_dates(shown, expected):
    assert parse_review_date(shown, today=TODAY) == expected


def test_json_nan_and_infinity_are_no_rating_and_no_count():
    """JSON-LD parsers accept NaN and Infinity; int(Infinity) used to end the extraction."""
    page = extract_page(
        b'<script type="application/ld+json">{"@type": "MedicalClinic", "name": "X", "aggregateRating": '
        b'{"ratingValue": NaN, "reviewCount": Infinity}, "review": [{"@type": "Review", "reviewBody": "Fine",'
        b' "reviewRating": {"ratingValue": -Infinity}}]}</script>', url="https://example.org/x")
    assert page.aggregate.rating is None and page.aggregate.count is None
    assert [(r.text, r.rating) for r in page.reviews] == [("Fine", None)]
    assert normalise_rating(float("nan")) is None


def test_encoding_detection_on_synthetic_bytes():
    text = "Отличный врач, внимательная и грамотная. Рекомендую всем пациентам клиники."
    page = f"<html><head><meta charset='utf-8'></head><body><p>{text}</p></body></html>"
    for codec in ("cp1251", "koi8-r"):
        decoded = decode_html(page.encode(codec))
        assert decoded.encoding == codec and text in decoded.text
    french = "<p>Très bonne médecin, à l’écoute, compétente et très gentille avec les élèves.</p>"
    assert decode_html(french.encode("cp1252")).encoding == "cp1252"
    assert decode_html("Врач".encode("utf-8")).encoding == "utf-8"


def test_business_replies_are_split_off_in_site_layouts():
    yelp = _html(
        """<ul><li><div class="review review--with-sidebar" data-review-id="abc" itemprop="review" itemscope
        itemtype="http://schema.org/Review"><meta itemprop="author" content="Kate L.">
        <div itemprop="reviewRating" itemscope itemtype="http://schema.org/Rating"><meta itemprop="ratingValue" content="2.0"></div>
        <span class="rating-qualifier"><meta itemprop="datePublished" content="2016-02-01">2/1/2016</span>
        <p itemprop="description" lang="en">Waited an hour.</p>
        <div class="biz-owner-reply"><span class="biz-owner-reply-header">Comment from Jacob</span>
        <span class="biz-owner-reply-body">Sorry about the wait!</span></div></div></li></ul>"""
    )
    [review] = extract_page(yelp, url="https://www.yelp.com/biz/x").reviews
    assert (review.text, review.reply, review.rating, review.date) == (
        "Waited an hour.", "Sorry about the wait!", 2.0, "2016-02-01",
    )
    trustpilot = _html(
        """<article class="review" id="t1"><div class="consumer-information__name">Sam</div>
        <div class="star-rating"><img alt="4 stars: Great"></div>
        <script type="application/json" data-initial-state="review-dates">{"publishedDate":"2021-03-04T10:00:00Z"}</script>
        <p class="review-content__text">Good roofers.</p>
        <div class="review__company-reply"><div class="brand-company-reply__content">Thanks Sam</div></div></article>"""
    )
    [review] = extract_page(trustpilot, url="https://www.trustpilot.com/review/x.co.uk").reviews
    assert (review.author, review.rating, review.date, review.text, review.reply) == (
        "Sam", 4.0, "2021-03-04", "Good roofers.", "Thanks Sam",
    )


def test_date_alternatives_fall_through_until_one_parses():
    config = {"review": ".r", "text": "p", "date": [{"select": "time", "attr": "datetime"}, ".when"]}
    page = extract_page(_html("<div class='r'><time datetime='soon'></time><span class='when'>вчера</span><p>ok</p></div>"),
                        selector_config=config, today=TODAY)
    assert page.reviews[0].date == "2026-07-19"


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None

if given is not None:
    _fragments = st.sampled_from(
        [
            "<div>", "</div>", "<p>", "<script type='application/ld+json'>", "</script>", "{\"@type\":\"Review\",",
            "\"reviewBody\":\"x\"}", "<div itemscope itemtype='http://schema.org/Review'>", "<span itemprop='author'>",
            "&apos;", "&#", "<!--", "<br>", "<table><tr><td>", "\u0000", "Отзыв", "<div vocab='https://schema.org/' typeof='Review'>",
        ]
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(_fragments, st.text(max_size=20)), max_size=40), st.sampled_from([None, "zoon", "yelp"]))
    def test_arbitrary_markup_never_crashes(parts, site):
        try:
            page = extract_page("".join(parts).encode("utf-8", "surrogatepass"), site=site)
        except LayoutChanged:
            return
        assert isinstance(page, ExtractedPage)


def test_two_patients_with_the_same_words_stay_two_reviews():
    """Pairing the schema.org copy of a review with its HTML card is one to one, and the authors agree."""
    from app.reputation.extract import ExtractedReview, _merge_reviews

    def review(author, text, rating, site_id=None):
        return ExtractedReview(author=author, date=None, rating=rating, text=text, site_review_id=site_id)

    schema = [review("Ann", "Great service", 5.0), review("Bob", "Great service!", 2.0)]
    cards = [review("Ann", "Great service", None, "aaa111"), review("Bob", "Great service!", None, "bbb222")]
    merged = _merge_reviews(schema, cards)
    assert [(r.author, r.rating, r.site_review_id) for r in merged] == [("Ann", 5.0, "aaa111"), ("Bob", 2.0, "bbb222")]
    # Without ids the key tells short texts apart by author and rating; a long text is itself enough.
    keys = {review_key("zoon", None, "Спасибо!", author=a, rating=r) for a, r in (("Анна", 5), ("Борис", 1))}
    assert len(keys) == 2
    assert review_key("zoon", None, "Спасибо!", author="Анна", rating=5) == \
        review_key("zoon", None, "спасибо", author="анна", rating=5.0)  # the same review read twice
    long_text = "Врач внимательно выслушала, всё объяснила и назначила лечение, которое помогло"
    assert review_key("zoon", None, long_text, author="Анна") == review_key("zoon", None, long_text, author="")

    # A name longer than its column is stored cut; the key reads the same cut, so a key computed
    # again from the stored review (as migration 0021 does) is the one the next scrape computes.
    endless = "Пациентка " * 40
    assert review_key("zoon", None, "Спасибо!", author=endless, rating=5) == \
        review_key("zoon", None, "Спасибо!", author=endless[:200], rating=5)


def test_keys_fit_their_column_whatever_the_site_and_id():
    site, long_id = "reviews.some-very-long-regional-clinic-portal.example", "https://x.example/" + "r" * 200
    key = review_key(site, long_id, "text")
    assert len(key) <= 120 and key == review_key(site, long_id, "other text")
    assert key != review_key(site, long_id + "2", "text")
    assert review_key("zoon", "12345", "") == "zoon:id:12345"  # short ids keep their readable key


def test_a_clinic_page_embedding_a_map_or_widget_is_not_that_site():
    embed = ("<iframe src='https://www.google.com/maps/embed?pb=1'></iframe>"
             "<div class='trustpilot-widget' data-url='https://www.trustpilot.com/review/x'></div>")
    data = {"@context": "https://schema.org", "@type": "MedicalClinic", "name": "Здоровье",
            "aggregateRating": {"@type": "AggregateRating", "ratingValue": "4.8", "reviewCount": "120"}}
    page = extract_page(_html(embed, f"<script type='application/ld+json'>{json.dumps(data)}</script>"),
                        url="https://clinic-zdorovie.ru/otzyvy")
    assert page.site == "clinic-zdorovie.ru"
    assert (page.aggregate.rating, page.aggregate.count) == (4.8, 120)


def test_a_pathological_selector_regex_is_cut_short():
    """A regex that backtracks for ever stops at its time limit instead of holding the worker."""
    import time

    config = validate_selector_config({"review": "div.r", "author": "b", "text": {"select": "p", "regex": "^(a|aa)+$"}})
    body = "".join(f"<div class='r'><b>Anna {n}</b><p>{'a' * 60}b</p></div>" for n in range(3))
    started = time.monotonic()
    try:
        extract_page(_html(body), url="https://reviews.example/clinic", selector_config=config)
    except LayoutChanged:
        pass  # no text matched: the page reads as changed, which is the honest answer
    assert time.monotonic() - started < 10  # three searches of 0.5 s at most; unbounded, hours
