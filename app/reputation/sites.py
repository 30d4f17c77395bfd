"""Per-site adapters: every selector for a review site lives in exactly one dict below.

When a site changes its markup, fix that site's dict and nothing else. Each dict uses the
same selector-config format an operator can supply for any other site without code (see
``app.reputation.extract.validate_selector_config`` for the full format); a field may list
alternatives, tried in order, so old and new layouts of a site can both be covered.

Selectors are CSS unless they start with ``/``, ``./``, ``(`` or ``xpath:``. Per-review
selectors are evaluated inside the review container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.urls import split_url

# Matches a rating's number in an attribute such as aria-label="4 stars" or alt="1 star: Bad".
_NUMBER = r"(\d+(?:[.,]\d+)?)"

PRODOCTOROV = {
    "review": [".b-review-card[data-review-id]", "[itemtype$='schema.org/Review']"],
    "id": [{"attr": "data-review-id"}],
    "author": [".b-review-card__author-name", "[itemprop=author]"],
    # The visible date of this year's reviews has no year; the microdata date always has one.
    "date": [
        {"select": "[itemprop=datePublished]", "attr": "content"},
        "[itemprop=datePublished]",
        ".b-review-card__date",
    ],
    # Microdata ratings are on a 0-100 scale; the badge shows the same value on 0-5.
    "rating": [
        {
            "select": "[itemprop=reviewRating] [itemprop=ratingValue]",
            "attr": "content",
            "best": {"select": "[itemprop=reviewRating] [itemprop=bestRating]", "attr": "content"},
            "scale": 100,
        },
        {"select": ".review-card-tooltips__stars .text-subtitle-2", "scale": 5},
    ],
    # A review has titled parts ("История пациента", "Понравилось", "Не понравилось").
    "text": [
        {
            "select": ".b-review-card__comment-wrapper",
            "all": True,
            "heading": ".b-review-card__comment-title",
            "omit_headings": ["История пациента", "Комментарий"],
        },
        {"select": ".b-review-card__comment", "all": True},
        "[itemprop=reviewBody]",
    ],
    # The clinic's reply sits inside the review body; it must not leak into the text.
    "reply": [".b-review-card__reply"],
    "reply_text": [".b-review-card__reply-body", {}],
    "exclude": [".b-alert", ".b-review-card__footer", ".b-review-card__logo", "review-card-tooltips"],
    "next_page": ["a.b-pagination__next[href]", "link[rel=next]", "a[rel=next]"],
    "empty_page": [".b-reviews-page__empty"],
    "date_order": "dmy",
    "prefer": "dom",
}

ZOON = {
    # Category lists show a carousel of review cards, each about a different clinic;
    # clinic pages list comments. Both layouts are covered.
    "review": [".review-card-container", "li.comment-item", "[itemtype$='schema.org/Review']"],
    "id": [{"attr": "data-id"}],
    "author": [
        ".review-card-name",
        {"select": ".review-card-name", "attr": "title"},
        ".comment-item__author",
        {"select": "[itemprop=author] [itemprop=name]", "attr": "content"},
        "[itemprop=author]",
    ],
    "date": [
        ".review-card-comment-info > .z-flex--auto",
        {"select": "[itemprop=datePublished]", "attr": "content"},
        ".comment-item__date",
        ".review-card-comment-info > div:last-child",
    ],
    # Stars exist only as a CSS custom property: style="--rating: 5".
    "rating": [
        {"select": "[style*='--rating']", "attr": "style", "regex": r"--rating:\s*" + _NUMBER},
        {"select": "[itemprop=reviewRating] [itemprop=ratingValue]", "attr": "content"},
    ],
    # The tail of a long review is in a hidden span; the "Показать ещё" button is not text.
    "text": [".review-card-comment", ".comment-item__text", ".js-comment-content", "[itemprop=reviewBody]"],
    "subject": [".review-card-title"],
    "reply": [".comment-item__answer", ".js-comment-answer", ".owner-response"],
    "exclude": [".js-review-card-show-more", ".js-comment-show-more"],
    # The visible pager; the page's <link rel=next> does not follow the page shown.
    "next_page": [".paging a.paging__control._next[href]", ".paging a._next[href]"],
    # A category list's aggregate covers every clinic in the category, not one clinic.
    "category_page": [".list-rating-info", ".catalog-review"],
    "date_order": "dmy",
    "prefer": "dom",
}

RATEMDS = {
    "review": ["[itemprop=review][id^='rating-']", ".rating[id^='rating-']", "[itemtype$='schema.org/Review']"],
    "id": [{"attr": "id"}],
    "author": [
        {"select": "[itemprop=author] [itemprop=name]", "attr": "content"},
        "[itemprop=author] [itemprop=name]",
        "[itemprop=author]",
    ],
    # The date exists only as text: "Submitted March 4, 2018".
    "date": [".rating-comment-created", {"select": "[itemprop=datePublished]", "attr": "content"}],
    "rating": [
        {"select": "[itemprop=reviewRating] [itemprop=ratingValue]", "attr": "content"},
        {"select": ".rating-average .star-rating", "attr": "title"},
    ],
    "text": ["[itemprop=reviewBody]", ".rating-comment-body"],
    "reply": [".rating-comment-response", ".doctor-response"],
    "exclude": [".rating-comment-votes"],
    "next_page": [
        "link[rel=next]",
        "//ul[contains(@class,'pagination')]//a[.//i[contains(@class,'fa-angle-double-right')]]",
    ],
    "date_order": "mdy",
    "prefer": "dom",
}

YELP = {
    # The 2016 layout carries microdata; the later JavaScript shell has reviews only in
    # JSON-LD, which the schema.org extractor reads when these selectors find nothing.
    "review": [".review[data-review-id][itemprop=review]", "[itemprop=review][data-review-id]"],
    "id": [{"attr": "data-review-id"}],
    "author": [{"select": "meta[itemprop=author]", "attr": "content"}, ".user-display-name"],
    "date": [{"select": "[itemprop=datePublished]", "attr": "content"}, ".rating-qualifier"],
    "rating": [
        {"select": "[itemprop=reviewRating] [itemprop=ratingValue]", "attr": "content"},
        {"select": ".star-img", "attr": "title", "regex": _NUMBER},
        {"select": "[aria-label*='star rating']", "attr": "aria-label", "regex": _NUMBER},
    ],
    "text": ["[itemprop=description]", ".review-content > p[lang]"],
    "reply": [".biz-owner-reply"],
    "reply_text": [".biz-owner-reply-body", {}],
    # An updated review keeps its earlier version beside it; that is not the current text.
    "exclude": [".previous-review", ".review-footer"],
    "next_page": ["link[rel=next]", "a.next.pagination-links_anchor[href]", "a.next-link[href]"],
    "date_order": "mdy",
    "prefer": "dom",
}

TRUSTPILOT = {
    # JSON-LD and HTML cards carry the same reviews; JSON-LD is steadier, the cards add
    # review ids and the company's replies.
    "review": ["article.review[id]", "article[data-service-review-card-paper]"],
    "id": [{"attr": "data-reviewmid"}, {"attr": "id"}],
    "author": [".consumer-information__name", "[data-consumer-name-typography]"],
    "date": [
        {"select": "script[data-initial-state=review-dates]", "json": "publishedDate"},
        {"select": "time[datetime]", "attr": "datetime"},
    ],
    "rating": [
        {"select": ".star-rating img", "attr": "alt", "regex": _NUMBER},
        {"select": "[data-service-review-rating]", "attr": "data-service-review-rating"},
    ],
    "title": [".review-content__title", "[data-service-review-title-typography]"],
    "text": [".review-content__text", "[data-service-review-text-typography]"],
    "reply": [".review__company-reply", ".brand-company-reply", "[data-service-review-business-reply-text-typography]"],
    "reply_text": [".brand-company-reply__content", "[data-service-review-business-reply-text-typography]", {}],
    "next_page": [
        "link[rel=next]",
        "a.next-page[href]",
        "a[name=pagination-button-next][href]",
        "a[data-pagination-button-next-link][href]",
    ],
    "date_order": "dmy",
    "prefer": "schema",
}

GOOGLE_MAPS = {
    # Rendered DOM without review markup; class names are generated, so stable attributes
    # (data-review-id, role, aria-label) come first where they exist. Pages saved from the
    # 2021 layout (ODSEW-ShBeI classes) and the 2019-2020 one (section-review classes) are
    # read too: a page saved years ago is still a clinic's history.
    "review": [
        "div.jftiEf[data-review-id]",
        "div[data-review-id][aria-label][jslog]",
        "div.ODSEW-ShBeI[data-review-id]",
        "div.section-review[data-review-id]",
        "div.section-review",
    ],
    "id": [{"attr": "data-review-id"}],
    "author": [".d4r55", ".ODSEW-ShBeI-title", ".section-review-title", {"attr": "aria-label"}],
    "rating": [
        {"select": "span[role=img][aria-label]", "attr": "aria-label", "regex": _NUMBER},
        {"select": ".fzvQIb", "regex": _NUMBER + r"\s*/\s*5"},
        {"select": ".ODSEW-ShBeI-H1e3jb[aria-label]", "attr": "aria-label", "regex": _NUMBER},
        {"select": ".section-review-stars[aria-label]", "attr": "aria-label", "regex": _NUMBER},
        {"select": ".section-review-numerical-rating", "regex": _NUMBER + r"\s*/\s*5"},
    ],
    "date": [".rsqaWe", ".xRkPPb", ".ODSEW-ShBeI-RgZmSc-date", ".section-review-publish-date", "span[role=img] + span"],
    # The owner's reply uses the same class as the review text; excluding the reply
    # container keeps it out of the review.
    "text": [".MyEned .wiI7pd", ".wiI7pd", ".MyEned", ".ODSEW-ShBeI-text", ".section-review-text"],
    "reply": [".CDe7pd", ".section-review-owner-response"],
    "reply_text": [".wiI7pd", ".section-review-text", {}],
    "aggregate_rating": [
        ".jANrlb .fontDisplayLarge",
        {"select": "ol[role=img][aria-label]", "attr": "aria-label", "regex": _NUMBER},
    ],
    "aggregate_count": [
        {"select": "button[jsaction*='reviewChart.moreReviews']", "regex": r"(\d[\d\s,.\u00a0\u202f]*)"},
        {"select": ".jANrlb", "regex": r"(\d[\d,.\u00a0\u202f]*)\s*(?:reviews?|отзыв\w*|avis)"},
    ],
    "date_order": "mdy",
    "prefer": "dom",
}


@dataclass(frozen=True)
class SiteAdapter:
    """A review site this product knows: how to recognise its pages and read them.

    ``hosts`` match a host and its subdomains; ``name.*`` stands for the name under any
    country's domain (``google.de``, ``google.com.br``, ``yelp.co.uk``).
    """

    name: str
    hosts: tuple[str, ...]
    markers: tuple[str, ...]
    selectors: dict | None = None
    path_prefixes: tuple[str, ...] = field(default_factory=tuple)


SITES: dict[str, SiteAdapter] = {
    adapter.name: adapter
    for adapter in (
        SiteAdapter("prodoctorov", ("prodoctorov.ru",), ("prodoctorov.ru", "b-review-card"), PRODOCTOROV),
        SiteAdapter("zoon", ("zoon.ru",), ("zoon.ru", "review-card-container"), ZOON),
        SiteAdapter("ratemds", ("ratemds.com",), ("ratemds.com",), RATEMDS),
        SiteAdapter("yelp", ("yelp.*",), ("yelp.com", "yelpcdn.com"), YELP),
        SiteAdapter("trustpilot", ("trustpilot.com",), ("trustpilot.com", "trustpilot.net"), TRUSTPILOT),
        SiteAdapter(
            "google_maps",
            ("google.*",),
            ("maps.gstatic.com", "google.com/maps"),
            GOOGLE_MAPS,
            path_prefixes=("/maps",),
        ),
        # Known sites without a built-in adapter: read through schema.org data and, when an
        # operator supplies one, a selector config.
        SiteAdapter("napopravku", ("napopravku.ru",), ("napopravku.ru",)),
        SiteAdapter("2gis", ("2gis.ru", "2gis.com", "2gis.kz"), ("2gis.ru", "2gis.com")),
        SiteAdapter("yandex_maps", ("yandex.ru", "yandex.com"), ("yandex.ru/maps",), path_prefixes=("/maps",)),
        SiteAdapter("otzovik", ("otzovik.com",), ("otzovik.com",)),
    )
}


# What may follow a site's name in a country's domain: "de", "com", "co.uk", "com.br".
_COUNTRY_DOMAIN = re.compile(r"(?:com?\.)?[a-z]{2,3}")


def host_matches(host: str, pattern: str) -> bool:
    """Whether ``host`` is ``pattern`` or one of its subdomains; ``name.*`` is the name under any country's domain."""
    if pattern.endswith(".*"):
        labels = host.split(".")
        name = pattern[:-2]
        return any(label == name and _COUNTRY_DOMAIN.fullmatch(".".join(labels[i + 1:])) is not None
                   for i, label in enumerate(labels))
    return host == pattern or host.endswith("." + pattern)


def site_for_host(host: str, path: str = "") -> str | None:
    """The known site a host (and, for shared hosts like google.com, a path) belongs to."""
    host = host.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    for adapter in SITES.values():
        if not any(host_matches(host, pattern) for pattern in adapter.hosts):
            continue
        if adapter.path_prefixes and not host.startswith("maps."):
            if not any(path.startswith(prefix) for prefix in adapter.path_prefixes):
                continue
        return adapter.name
    return None


def site_for_url(url: str) -> str | None:
    """The known site a URL belongs to, or None."""
    parts = split_url(url.strip())
    if parts is None or not parts.hostname:
        return None
    return site_for_host(parts.hostname, parts.path or "/")
