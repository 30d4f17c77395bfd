"""Extracting reviews from a saved or fetched review-site page. No database, no network.

Two sources of reviews are combined:

* schema.org ``Review`` / ``AggregateRating`` data in JSON-LD, microdata or RDFa (read with
  extruct), which any site may carry;
* a selector config: a built-in one per known site (``app.reputation.sites``) or one an
  operator supplies for any other site (validated by ``validate_selector_config``).

Ratings come out on 0-5, dates as ``YYYY-MM-DD``, replies from the clinic apart from the
patient's text. A known site whose selectors find nothing, on a page with no schema.org
reviews either, raises ``LayoutChanged`` so the caller can mark the source broken.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

import extruct
import lxml.html
import regex as user_regex
from lxml import etree
from lxml.cssselect import CSSSelector

from app.reputation.dates import parse_review_date
from app.reputation.encoding import decode_html
from app.reputation.sites import SITES, site_for_url
from app.parsing import without_control_chars
from app.urls import hostname_of, join_url

log = logging.getLogger(__name__)

__all__ = [
    "AggregateRating",
    "ExtractError",
    "ExtractedPage",
    "ExtractedReview",
    "LayoutChanged",
    "NoReviewData",
    "SelectorConfig",
    "SelectorConfigError",
    "detect_site",
    "extract_page",
    "normalise_rating",
    "review_key",
    "validate_selector_config",
]


# --------------------------------------------------------------------------- results


@dataclass
class ExtractedReview:
    """One patient review as extracted from a page.

    ``rating`` is on 0-5, ``date`` is ``YYYY-MM-DD``; ``reply`` is the business's reply,
    never part of ``text``: ``""`` when the page shows where a reply would be and there is
    none, ``None`` when the page cannot tell (schema.org data, a layout without replies). ``subject`` names what was reviewed when a page lists reviews
    of several businesses (a category list). ``sections`` keeps titled parts of a review.
    """

    author: str | None
    date: str | None
    rating: float | None
    text: str
    site_review_id: str | None = None
    reply: str | None = None
    title: str | None = None
    subject: str | None = None
    sections: list[dict[str, str]] | None = None
    source: str = "dom"

    def key(self, site: str | None) -> str:
        """Its dedup key on ``site`` (see ``review_key``)."""
        return review_key(site or "", self.site_review_id, self.text, author=self.author, rating=self.rating)

    def to_json_dict(self, site: str | None = None) -> dict[str, Any]:
        """The review as a plain JSON-serialisable dict (with its dedup ``key``)."""
        data: dict[str, Any] = {
            "author": self.author,
            "date": self.date,
            "rating": self.rating,
            "text": self.text,
            "site_review_id": self.site_review_id,
            "reply": self.reply,
        }
        if self.title:
            data["title"] = self.title
        if self.subject:
            data["subject"] = self.subject
        if self.sections:
            data["sections"] = self.sections
        data["source"] = self.source
        data["key"] = self.key(site)
        return data


@dataclass
class AggregateRating:
    """A page's overall rating (0-5) and number of ratings or reviews; either may be None."""

    rating: float | None = None
    count: int | None = None

    def is_empty(self) -> bool:
        """True when neither the rating nor the count is known."""
        return self.rating is None and self.count is None

    def to_json_dict(self) -> dict[str, Any]:
        """``{"rating": ..., "count": ...}``."""
        return {"rating": self.rating, "count": self.count}


@dataclass
class ExtractedPage:
    """Everything read from one page.

    ``aggregate`` is the rating of the page's own subject. On a category list (Zoon) the
    page-wide figure covers every business in the category: it is kept in
    ``category_aggregate`` and ``aggregate`` stays empty so it is never taken for one
    clinic's rating.
    """

    site: str | None
    reviews: list[ExtractedReview]
    aggregate: AggregateRating
    next_page_url: str | None
    encoding: str
    url: str | None = None
    category_aggregate: AggregateRating | None = None
    warnings: list[str] = field(default_factory=list)
    heading: str | None = None  # what the page is about, as it names it (a doctor's page: the doctor's name)

    def to_json_dict(self) -> dict[str, Any]:
        """``{"site", "reviews": [...], "aggregate": {"rating", "count"}, ...}``, JSON-serialisable."""
        data: dict[str, Any] = {
            "site": self.site,
            "url": self.url,
            "encoding": self.encoding,
            "reviews": [review.to_json_dict(self.site) for review in self.reviews],
            "aggregate": self.aggregate.to_json_dict(),
            "next_page_url": self.next_page_url,
            "heading": self.heading,
        }
        if self.category_aggregate is not None:
            data["category_aggregate"] = self.category_aggregate.to_json_dict()
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


class ExtractError(Exception):
    """Base class of extraction errors."""


class LayoutChanged(ExtractError):
    """The page does not look the way its adapter expects: the source should be marked broken."""

    def __init__(self, site: str | None, url: str | None, reason: str):
        self.site = site
        self.url = url
        self.reason = reason
        where = f" ({url})" if url else ""
        super().__init__(f"{site or 'page'}{where}: layout changed: {reason}")


class NoReviewData(LayoutChanged):
    """A page of an unknown site with no schema.org review data and no selector config."""


class SelectorConfigError(ExtractError, ValueError):
    """An operator's selector config is invalid; ``problems`` lists every issue found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid selector config ({len(self.problems)} problem(s)):\n{listing}")


# --------------------------------------------------------------------------- small helpers

_WHITESPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_TAG = re.compile(r"<[^>]+>")
_BREAK_TAG = re.compile(r"<\s*(?:br|/p|/div|/li)\s*/?\s*>", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)


def _clean_text(value: Any) -> str:
    """Collapse whitespace, unescape leftover HTML entities and drop tags from a string value."""
    if value is None:
        return ""
    text = without_control_chars(str(value))
    # JSON-LD strings sometimes carry HTML-escaped text (Yelp: "Haven&apos;t"), even twice.
    for _ in range(2):
        if "&" not in text:
            break
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    if "<" in text and ">" in text:
        text = _TAG.sub("", _BREAK_TAG.sub(" ", text))
    return _WHITESPACE.sub(" ", text.replace("\xa0", " ")).strip()


def _parse_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        # JSON allows NaN and Infinity; neither is a rating or a count.
        return float(value) if math.isfinite(value) else None
    match = _NUMBER.search(str(value).replace("\xa0", " "))
    if not match:
        return None
    try:
        return float(match.group(0).replace(",", "."))
    except ValueError:
        return None


def _parse_count(value: Any) -> int | None:
    """An integer count from "20 reviews", "11 845", "1,234" or a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if math.isfinite(value) else None
    match = re.search(r"\d[\d\s,.\u00a0\u202f\u2009']*", str(value))
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(0))
    return int(digits) if digits else None


def normalise_rating(value: Any, best: Any = None, scale: float | None = None) -> float | None:
    """A rating on 0-5 from a raw value and its scale.

    ``best`` is the scale's top as the page states it (schema.org ``bestRating``); failing
    that ``scale`` is the site's known top; failing both, values above 5 are read as 0-10
    or 0-100. The result is rounded to two decimals and clamped to 0-5.
    """
    number = _parse_number(value)
    if number is None:
        return None
    top = _parse_number(best) or scale
    if top is None or top <= 0:
        if number <= 5:
            top = 5.0
        elif number <= 10:
            top = 10.0
        else:
            top = 100.0
    rating = number * 5.0 / top
    return round(min(max(rating, 0.0), 5.0), 2)


def _normalised_text_for_key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(re.findall(r"\w+", folded))


# Keys are stored in a 120-character column; a site's name is at most 40 of them.
KEY_LENGTH, SITE_LENGTH = 120, 40
# An author's name is stored in at most 200 characters; the key reads no more of it, so a key
# computed again from the stored review (migration 0021) is the key the scraper computes.
AUTHOR_LENGTH = 200
# Below this many normalised characters a text does not tell one patient's review from another's
# ("Спасибо!", "Отлично", or no text at all under a rating).
SHORT_TEXT = 40


def review_key(site: str | None, site_review_id: str | None, text: str | None, *,
               author: str | None = None, rating: float | None = None) -> str:
    """A stable dedup key for a review: site plus the site's review id, else a hash of the text.

    The text is normalised (Unicode NFKC, case-folded, punctuation and whitespace dropped)
    so the same review read from JSON-LD or from HTML gets the same key. A short text is
    hashed with its author and rating, so ten patients' "Спасибо!" stay ten reviews; the date
    is left out, as a site's "вчера" moves every day. An id too long for the column is hashed.
    """
    site_part = ((site or "").strip().lower() or "unknown")[:SITE_LENGTH]
    if site_review_id and str(site_review_id).strip():
        key = f"{site_part}:id:{str(site_review_id).strip()}"
        if len(key) <= KEY_LENGTH:
            return key
        return f"{site_part}:idh:" + hashlib.sha256(str(site_review_id).strip().encode("utf-8")).hexdigest()[:40]
    normalised = _normalised_text_for_key(text or "")
    if len(normalised) < SHORT_TEXT:
        normalised += f"\x00{_normalised_text_for_key((author or '')[:AUTHOR_LENGTH])}\x00{'' if rating is None else f'{rating:g}'}"
    digest = hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:24]
    return f"{site_part}:text:{digest}"


def _text_match_key(text: str) -> str:
    """A short key to pair the same review found twice (HTML card and JSON-LD)."""
    return _normalised_text_for_key(text)[:60]


# --------------------------------------------------------------------------- HTML parsing


def _parse_html(text: str) -> lxml.html.HtmlElement:
    """Parse any HTML, however broken, into a document; an empty page becomes an empty document."""
    cleaned = without_control_chars(_XML_DECLARATION.sub("", text, count=1))
    try:
        if cleaned.strip():
            return lxml.html.document_fromstring(cleaned)
    except (etree.ParserError, ValueError, TypeError) as exc:
        log.debug("HTML parse failed, treating page as empty: %s", exc)
    return lxml.html.document_fromstring("<html><body></body></html>")


_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "svg", "head", "title", "button"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "table", "td", "th", "tr", "ul",
    }
)


def _collect_text(element: Any, skip: set, parts: list[str], depth: int = 0) -> None:
    if depth > 400:
        return
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else None
        if tag is not None and child not in skip and tag.lower() not in _SKIP_TAGS:
            block = tag.lower() in _BLOCK_TAGS
            if block:
                parts.append(" ")
            if child.text:
                parts.append(child.text)
            _collect_text(child, skip, parts, depth + 1)
            if block:
                parts.append(" ")
        if child.tail:
            parts.append(child.tail)


def _element_text(element: Any, skip: set | None = None) -> str:
    """Visible text of an element with whitespace collapsed, leaving out ``skip`` subtrees."""
    if isinstance(element, str):
        return _clean_text(element)
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.lower() == "script":
        return _clean_text(element.text)
    parts: list[str] = [element.text or ""]
    _collect_text(element, skip or set(), parts)
    return _WHITESPACE.sub(" ", "".join(parts).replace("\xa0", " ")).strip()


# --------------------------------------------------------------------------- selector configs


@dataclass(frozen=True)
class CompiledSelector:
    """A CSS or XPath selector compiled once; ``select`` returns elements or strings."""

    source: str
    xpath: etree.XPath

    def select(self, context: Any) -> list[Any]:
        """Evaluate against an element; a selector that fails at run time matches nothing."""
        try:
            result = self.xpath(context)
        except (etree.XPathError, ValueError) as exc:
            log.debug("selector %r failed: %s", self.source, exc)
            return []
        if isinstance(result, list):
            return result
        if result is None or result is False:
            return []
        return [str(result)]


@dataclass(frozen=True)
class FieldRule:
    """One alternative for a field: where to look and how to turn the match into a value."""

    select: CompiledSelector | None = None
    attr: str | None = None
    regex: Any = None  # compiled with the ``regex`` package, searched with a time limit (_search)
    json_path: tuple[str, ...] | None = None
    scale: float | None = None
    best: tuple["FieldRule", ...] = ()
    join_all: bool = False
    heading: CompiledSelector | None = None
    omit_headings: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SelectorConfig:
    """A validated, compiled selector config (see ``validate_selector_config``)."""

    review: tuple[CompiledSelector, ...]
    fields: dict[str, tuple[FieldRule, ...]]
    reply: tuple[CompiledSelector, ...] = ()
    reply_text: tuple[FieldRule, ...] = ()
    exclude: tuple[CompiledSelector, ...] = ()
    next_page: tuple[FieldRule, ...] = ()
    aggregate_rating: tuple[FieldRule, ...] = ()
    aggregate_count: tuple[FieldRule, ...] = ()
    category_page: tuple[CompiledSelector, ...] = ()
    empty_page: tuple[CompiledSelector, ...] = ()
    rating_scale: float = 5.0
    date_order: str | None = None
    prefer: str = "dom"
    name: str | None = None


_REVIEW_FIELDS = ("author", "date", "rating", "text", "id", "title", "subject")
_PAGE_FIELDS = ("next_page", "aggregate_rating", "aggregate_count", "reply_text")
_SELECTOR_LISTS = ("review", "reply", "exclude", "category_page", "empty_page")
_OPTIONS = ("rating_scale", "date_order", "prefer", "name", "description")
_CONFIG_KEYS = _REVIEW_FIELDS + _PAGE_FIELDS + _SELECTOR_LISTS + _OPTIONS
# A selector config's regular expressions are written by people; a pathological one ("(a|aa)+$")
# must not hold the scrape worker that serves every clinic, so each search has a time limit.
REGEX_TIMEOUT_SECONDS = 0.5


def _search(pattern, value: str):
    try:
        return pattern.search(value, timeout=REGEX_TIMEOUT_SECONDS)
    except TimeoutError:
        return None


_RULE_KEYS = ("select", "attr", "regex", "json", "scale", "best", "all", "heading", "omit_headings")
_XPATH_START = ("/", "./", "(", "xpath:")


def _compile_selector(source: Any, where: str, problems: list[str]) -> CompiledSelector | None:
    if not isinstance(source, str) or not source.strip():
        problems.append(f"{where}: a selector must be a non-empty string, got {source!r}")
        return None
    text = source.strip()
    try:
        if text.startswith("css:"):
            return CompiledSelector(text, CSSSelector(text[4:].strip(), translator="html"))
        if text.startswith(_XPATH_START):
            expression = text[6:].strip() if text.startswith("xpath:") else text
            return CompiledSelector(text, etree.XPath(expression))
        return CompiledSelector(text, CSSSelector(text, translator="html"))
    except etree.XPathSyntaxError as exc:
        problems.append(f"{where}: invalid XPath {text!r}: {exc}")
    except Exception as exc:  # cssselect raises SelectorSyntaxError / ExpressionError
        problems.append(f"{where}: invalid CSS selector {text!r}: {exc}")
    return None


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _suggest(key: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _compile_rule(spec: Any, where: str, problems: list[str]) -> FieldRule | None:
    if isinstance(spec, str):
        selector = _compile_selector(spec, where, problems)
        return FieldRule(select=selector) if selector else None
    if not isinstance(spec, dict):
        problems.append(f"{where}: expected a selector string or an object, got {type(spec).__name__}")
        return None
    for key in spec:
        if key not in _RULE_KEYS:
            problems.append(f"{where}: unknown option {key!r}{_suggest(str(key), _RULE_KEYS)}")
    selector = None
    if spec.get("select") is not None:
        selector = _compile_selector(spec["select"], f"{where}.select", problems)
    attr = spec.get("attr")
    if attr is not None and (not isinstance(attr, str) or not attr.strip()):
        problems.append(f"{where}.attr: must be an attribute name, got {attr!r}")
        attr = None
    regex = None
    if spec.get("regex") is not None:
        try:
            regex = user_regex.compile(spec["regex"])
            if regex.groups > 1:
                problems.append(f"{where}.regex: use at most one capturing group, found {regex.groups}")
        except (user_regex.error, TypeError, ValueError) as exc:
            problems.append(f"{where}.regex: invalid regular expression {spec['regex']!r}: {exc}")
    json_path = None
    if spec.get("json") is not None:
        if not isinstance(spec["json"], str) or not spec["json"].strip():
            problems.append(f"{where}.json: must be a dotted key path such as 'publishedDate'")
        else:
            json_path = tuple(part for part in spec["json"].split(".") if part)
    scale = None
    if spec.get("scale") is not None:
        scale = _parse_number(spec["scale"]) if not isinstance(spec["scale"], bool) else None
        if scale is None or scale <= 0:
            problems.append(f"{where}.scale: must be a positive number (the top of the site's scale)")
            scale = None
    best: tuple[FieldRule, ...] = ()
    if spec.get("best") is not None:
        best = _compile_rules(spec["best"], f"{where}.best", problems)
    join_all = spec.get("all", False)
    if not isinstance(join_all, bool):
        problems.append(f"{where}.all: must be true or false")
        join_all = False
    heading = None
    if spec.get("heading") is not None:
        heading = _compile_selector(spec["heading"], f"{where}.heading", problems)
    omit = spec.get("omit_headings", [])
    if not isinstance(omit, (list, tuple)) or not all(isinstance(item, str) for item in omit):
        problems.append(f"{where}.omit_headings: must be a list of strings")
        omit = []
    return FieldRule(
        select=selector,
        attr=attr.strip() if attr else None,
        regex=regex,
        json_path=json_path,
        scale=scale,
        best=best,
        join_all=join_all,
        heading=heading,
        omit_headings=frozenset(item.strip().casefold() for item in omit),
    )


def _compile_rules(spec: Any, where: str, problems: list[str]) -> tuple[FieldRule, ...]:
    if spec is None or (isinstance(spec, (list, tuple)) and not spec):
        problems.append(f"{where}: must not be empty")
        return ()
    rules = []
    items = _as_list(spec)
    for index, item in enumerate(items):
        rule = _compile_rule(item, f"{where}[{index}]" if len(items) > 1 else where, problems)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _compile_selectors(spec: Any, where: str, problems: list[str]) -> tuple[CompiledSelector, ...]:
    if spec is None or (isinstance(spec, (list, tuple)) and not spec):
        problems.append(f"{where}: must not be empty")
        return ()
    compiled = []
    items = _as_list(spec)
    for index, item in enumerate(items):
        selector = _compile_selector(item, f"{where}[{index}]" if len(items) > 1 else where, problems)
        if selector is not None:
            compiled.append(selector)
    return tuple(compiled)


def validate_selector_config(config: Any) -> SelectorConfig:
    """Check an operator's selector config and compile it; raise ``SelectorConfigError`` listing all problems.

    The config is a plain dict (or JSON object). Keys:

    * ``review`` (required): selector of one review's container.
    * per review, evaluated inside the container: ``author``, ``date``, ``rating``,
      ``text`` (at least one of ``text``/``rating`` is required), ``id``, ``title``,
      ``subject`` (the business reviewed, on pages listing several).
    * ``reply``: selector of the business's reply inside a review; it is left out of every
      other field. ``reply_text``: where the reply's text is inside it (default: all of it).
    * ``exclude``: selectors of elements whose text is never part of a field ("Show more").
    * page level: ``next_page`` (link; ``href`` by default), ``aggregate_rating``,
      ``aggregate_count``, ``category_page`` (if it matches, the aggregate covers a whole
      category), ``empty_page`` (if it matches, no reviews is not an error).
    * options: ``rating_scale`` (top of the site's scale, default 5), ``date_order``
      (``dmy`` or ``mdy``), ``prefer`` (``dom`` or ``schema``: which source wins when both
      have reviews), ``name``, ``description``.

    A selector is a CSS string, or XPath when it starts with ``/``, ``./``, ``(`` or
    ``xpath:`` (``css:`` forces CSS). A field is a selector, an object
    ``{"select", "attr", "regex", "json", "scale", "best", "all", "heading", "omit_headings"}``
    or a list of those tried in order. ``attr`` reads an attribute instead of the text;
    ``regex`` keeps its first group (or whole match); ``json`` reads a key path from JSON
    text (a ``<script>``); ``scale``/``best`` give the rating's top; ``all`` joins every match;
    ``heading`` marks a section title inside each match. Without ``select`` a rule reads the
    container itself (e.g. ``{"attr": "data-review-id"}``).
    """
    problems: list[str] = []
    if not isinstance(config, dict):
        raise SelectorConfigError([f"the config must be an object/dict, got {type(config).__name__}"])
    for key in config:
        if key not in _CONFIG_KEYS:
            problems.append(f"unknown key {key!r}{_suggest(str(key), _CONFIG_KEYS)}")
    if "review" not in config:
        problems.append("'review' (the selector of one review's container) is required")
    if not any(config.get(key) for key in ("text", "rating")):
        problems.append("at least one of 'text' or 'rating' is required")

    review = _compile_selectors(config["review"], "review", problems) if "review" in config else ()
    fields = {
        name: _compile_rules(config[name], name, problems)
        for name in _REVIEW_FIELDS
        if config.get(name) is not None
    }
    page_rules = {
        name: _compile_rules(config[name], name, problems) for name in _PAGE_FIELDS if config.get(name) is not None
    }
    selector_lists = {
        name: _compile_selectors(config[name], name, problems)
        for name in _SELECTOR_LISTS
        if name != "review" and config.get(name) is not None
    }

    rating_scale = 5.0
    if config.get("rating_scale") is not None:
        parsed = None if isinstance(config["rating_scale"], bool) else _parse_number(config["rating_scale"])
        if parsed is None or parsed <= 0:
            problems.append("rating_scale: must be a positive number such as 5, 10 or 100")
        else:
            rating_scale = parsed
    date_order = config.get("date_order")
    if date_order is not None and date_order not in ("dmy", "mdy"):
        problems.append(f"date_order: must be 'dmy' or 'mdy', got {date_order!r}")
        date_order = None
    prefer = config.get("prefer", "dom")
    if prefer not in ("dom", "schema"):
        problems.append(f"prefer: must be 'dom' or 'schema', got {prefer!r}")
        prefer = "dom"
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        problems.append("name: must be a string")
        name = None

    if problems:
        raise SelectorConfigError(problems)
    return SelectorConfig(
        review=review,
        fields=fields,
        reply=selector_lists.get("reply", ()),
        reply_text=page_rules.get("reply_text", ()),
        exclude=selector_lists.get("exclude", ()),
        next_page=page_rules.get("next_page", ()),
        aggregate_rating=page_rules.get("aggregate_rating", ()),
        aggregate_count=page_rules.get("aggregate_count", ()),
        category_page=selector_lists.get("category_page", ()),
        empty_page=selector_lists.get("empty_page", ()),
        rating_scale=rating_scale,
        date_order=date_order,
        prefer=prefer,
        name=name,
    )


_SITE_CONFIG_CACHE: dict[str, SelectorConfig] = {}


def _site_config(site: str | None) -> SelectorConfig | None:
    """The compiled built-in selector config of a known site (compiled once)."""
    if not site or site not in SITES or SITES[site].selectors is None:
        return None
    if site not in _SITE_CONFIG_CACHE:
        _SITE_CONFIG_CACHE[site] = validate_selector_config(SITES[site].selectors)
    return _SITE_CONFIG_CACHE[site]


# --------------------------------------------------------------------------- applying selectors


def _is_within(node: Any, elements: set) -> bool:
    if isinstance(node, str) or not elements:
        return False
    if node in elements:
        return True
    return any(ancestor in elements for ancestor in node.iterancestors())


def _json_at(text: str, path: tuple[str, ...]) -> Any:
    try:
        value: Any = json.loads(text)
    except (ValueError, TypeError):
        return None
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _raw_value(node: Any, rule: FieldRule, skip: set) -> str | None:
    if isinstance(node, str):
        value: Any = node
    elif rule.json_path:
        value = _json_at(node.text or "", rule.json_path)
    elif rule.attr:
        value = node.get(rule.attr)
    else:
        value = _element_text(node, skip)
    if value is None:
        return None
    value = str(value) if not isinstance(value, str) else value
    if rule.regex is not None:
        match = _search(rule.regex, value)
        if not match:
            return None
        value = match.group(1) if rule.regex.groups else match.group(0)
    value = _clean_text(value) if rule.attr or rule.json_path or isinstance(node, str) else value.strip()
    return value or None


def _matches(rule: FieldRule, context: Any, skip: set) -> list[Any]:
    nodes = rule.select.select(context) if rule.select is not None else [context]
    return [node for node in nodes if not _is_within(node, skip) or node is context]


@dataclass
class _FieldValue:
    value: str | None
    rule: FieldRule | None = None
    sections: list[dict[str, str]] | None = None
    node: Any = None


def _evaluate(rules: tuple[FieldRule, ...], context: Any, skip: set) -> _FieldValue:
    """The first alternative that yields a non-empty value."""
    for rule in rules:
        nodes = _matches(rule, context, skip)
        if not nodes:
            continue
        if rule.join_all:
            parts: list[str] = []
            sections: list[dict[str, str]] = []
            for node in nodes:
                if isinstance(node, str):
                    parts.append(_clean_text(node))
                    continue
                heading_text = ""
                inner_skip = skip
                if rule.heading is not None:
                    headings = [h for h in rule.heading.select(node) if not isinstance(h, str)]
                    if headings:
                        heading_text = _element_text(headings[0], skip)
                        inner_skip = skip | {headings[0]}
                body = _raw_value(node, rule, inner_skip)
                if not body:
                    continue
                if rule.heading is not None:
                    sections.append({"title": heading_text, "text": body})
                if heading_text and heading_text.strip().casefold() not in rule.omit_headings:
                    separator = " " if heading_text.rstrip().endswith(":") else ": "
                    parts.append(f"{heading_text.rstrip()}{separator}{body}")
                else:
                    parts.append(body)
            joined = " ".join(part for part in parts if part).strip()
            if joined:
                return _FieldValue(joined, rule, sections or None)
            continue
        for node in nodes:
            value = _raw_value(node, rule, skip)
            if value:
                return _FieldValue(value, rule, node=node)
    return _FieldValue(None)


def _rating_value(rules: tuple[FieldRule, ...], context: Any, skip: set, default_scale: float) -> float | None:
    """The first alternative that yields a number, normalised to 0-5 with its own scale."""
    for rule in rules:
        found = _evaluate((rule,), context, skip)
        if found.value is None:
            continue
        best = _evaluate(rule.best, context, skip).value if rule.best else None
        rating = normalise_rating(found.value, best=best, scale=rule.scale or default_scale)
        if rating is not None:
            return rating
    return None


def _date_value(
    rules: tuple[FieldRule, ...], context: Any, skip: set, today: date, order: str | None
) -> str | None:
    """The first alternative whose text parses as a date."""
    for rule in rules:
        found = _evaluate((rule,), context, skip)
        parsed = parse_review_date(found.value, today=today, order=order) if found.value else None
        if parsed:
            return parsed
    return None


def _outermost(nodes: list[Any]) -> list[Any]:
    """Drop nodes that sit inside another node of the list (nested matches of one thing)."""
    chosen = set(nodes)
    return [node for node in nodes if not any(ancestor in chosen for ancestor in node.iterancestors())]


def _containers(config: SelectorConfig, root: Any) -> list[Any]:
    """Review containers from the first selector that matches; nested duplicates dropped."""
    for selector in config.review:
        found = [node for node in selector.select(root) if not isinstance(node, str)]
        if found:
            return _outermost(found)
    return []


@dataclass
class _DomResult:
    reviews: list[ExtractedReview]
    containers: int
    aggregate: AggregateRating
    next_page: str | None
    is_category: bool
    is_empty: bool
    warnings: list[str]


def _any_match(selectors: tuple[CompiledSelector, ...], root: Any) -> bool:
    return any(selector.select(root) for selector in selectors)


def _extract_with_selectors(config: SelectorConfig, root: Any, today: date) -> _DomResult:
    excluded: set = set()
    for selector in config.exclude:
        excluded.update(node for node in selector.select(root) if not isinstance(node, str))

    reviews: list[ExtractedReview] = []
    containers = _containers(config, root)
    missing: dict[str, int] = {}
    for container in containers:
        # A reply is something inside the review, never the review container itself.
        replies = _outermost(
            [
                node
                for sel in config.reply
                for node in sel.select(container)
                if not isinstance(node, str) and node is not container
            ]
        )
        skip = excluded | set(replies)
        values = {
            name: _evaluate(rules, container, skip)
            for name, rules in config.fields.items()
            if name not in ("rating", "date")
        }
        text_value = values.get("text", _FieldValue(None))
        rating = _rating_value(config.fields.get("rating", ()), container, skip, config.rating_scale)
        reply_texts = []
        for reply in replies:
            rules = config.reply_text or (FieldRule(),)
            reply_value = _evaluate(rules, reply, excluded).value
            if reply_value:
                reply_texts.append(reply_value)
        review = ExtractedReview(
            author=values["author"].value if "author" in values else None,
            date=_date_value(config.fields.get("date", ()), container, skip, today, config.date_order),
            rating=rating,
            text=text_value.value or "",
            site_review_id=values["id"].value if "id" in values else None,
            # Read with a layout that knows where replies go: no reply found means none was written.
            reply=" ".join(reply_texts) or ("" if config.reply else None),
            title=values["title"].value if "title" in values else None,
            subject=values["subject"].value if "subject" in values else None,
            sections=text_value.sections,
            source="dom",
        )
        if not review.text and review.rating is None:
            continue
        for name in ("author", "date", "rating", "text"):
            if name in config.fields and getattr(review, name) in (None, ""):
                missing[name] = missing.get(name, 0) + 1
        reviews.append(review)

    warnings = [
        f"selector for {name!r} matched nothing in {count} of {len(reviews)} reviews"
        for name, count in sorted(missing.items())
    ]
    aggregate = AggregateRating()
    if config.aggregate_rating:
        aggregate.rating = _rating_value(config.aggregate_rating, root, set(), config.rating_scale)
    if config.aggregate_count:
        aggregate.count = _parse_count(_evaluate(config.aggregate_count, root, set()).value)

    next_page = None
    if config.next_page:
        next_page = _link_value(config.next_page, root)
    return _DomResult(
        reviews=reviews,
        containers=len(containers),
        aggregate=aggregate,
        next_page=next_page,
        is_category=_any_match(config.category_page, root),
        is_empty=_any_match(config.empty_page, root),
        warnings=warnings,
    )


def _link_value(rules: tuple[FieldRule, ...], root: Any) -> str | None:
    """A link's target: the rule's attribute, else ``href`` of the matched element."""
    for rule in rules:
        for node in _matches(rule, root, set()):
            if isinstance(node, str):
                value = node
            elif rule.attr or rule.json_path:
                value = _raw_value(node, rule, set())
            else:
                value = node.get("href")
                if value and rule.regex is not None:
                    match = _search(rule.regex, value)
                    value = (match.group(1) if rule.regex.groups else match.group(0)) if match else None
            if value and value.strip() and not value.strip().startswith(("#", "javascript:")):
                return value.strip()
    return None


# Used only when no selector config says where a site's pager is.
_GENERIC_NEXT = tuple(
    FieldRule(select=CompiledSelector(css, CSSSelector(css, translator="html")))
    for css in ("link[rel~=next]", "a[rel~=next]")
)


# --------------------------------------------------------------------------- schema.org


def _short_type(value: Any) -> str:
    text = str(value)
    return text.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _types(node: dict) -> set[str]:
    raw = node.get("@type", node.get("type"))
    return {_short_type(item) for item in _as_list(raw) if item}


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _name_of(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name") or value.get("alternateName") or value.get("@value")
        value = _first(value)
    text = _clean_text(value) if value is not None else ""
    return text or None


@dataclass
class _SchemaData:
    reviews: list[ExtractedReview]
    aggregates: list[tuple[int, AggregateRating]]

    def best_aggregate(self) -> AggregateRating:
        """The aggregate nearest the top of the data: the page's own subject."""
        usable = [(depth, agg) for depth, agg in self.aggregates if not agg.is_empty()]
        if not usable:
            return AggregateRating()
        return min(usable, key=lambda item: item[0])[1]


def _review_from_schema(node: dict, syntax: str, today: date, order: str | None) -> ExtractedReview | None:
    rating_node = _first(node.get("reviewRating"))
    if isinstance(rating_node, dict):
        rating = normalise_rating(_first(rating_node.get("ratingValue")), best=_first(rating_node.get("bestRating")))
    else:
        rating = normalise_rating(rating_node)
    text = _clean_text(_first(node.get("reviewBody")) or _first(node.get("description")) or _first(node.get("text")))
    if not text and rating is None:
        return None
    raw_date = _first(node.get("datePublished")) or _first(node.get("dateCreated"))
    identifier = _first(node.get("@id")) or _first(node.get("identifier")) or _first(node.get("url"))
    title = _clean_text(_first(node.get("name")) or _first(node.get("headline"))) or None
    return ExtractedReview(
        author=_name_of(node.get("author")),
        date=parse_review_date(str(raw_date), today=today, order=order) if raw_date else None,
        rating=rating,
        text=text,
        site_review_id=(without_control_chars(str(identifier))
                        if identifier and not isinstance(identifier, dict) else None),
        title=title,
        source=syntax,
    )


def _aggregate_from_schema(node: dict) -> AggregateRating:
    count = _parse_count(_first(node.get("ratingCount")))
    if count is None:
        count = _parse_count(_first(node.get("reviewCount")))
    return AggregateRating(
        rating=normalise_rating(_first(node.get("ratingValue")), best=_first(node.get("bestRating"))),
        count=count,
    )


def _walk_schema(
    node: Any,
    key: str | None,
    depth: int,
    syntax: str,
    data: _SchemaData,
    today: date,
    order: str | None,
) -> None:
    if depth > 20:
        return
    if isinstance(node, list):
        for item in node:
            _walk_schema(item, key, depth, syntax, data, today, order)
        return
    if not isinstance(node, dict):
        return
    types = _types(node)
    if any(t.endswith("Review") for t in types) or (
        key in ("review", "reviews") and not types
    ):
        review = _review_from_schema(node, syntax, today, order)
        if review is not None:
            data.reviews.append(review)
        return
    if "AggregateRating" in types or key == "aggregateRating":
        data.aggregates.append((depth, _aggregate_from_schema(node)))
        return
    for child_key, child in node.items():
        if child_key in ("@context", "@type", "@id"):
            continue
        _walk_schema(child, child_key, depth + 1, syntax, data, today, order)


def _rdfa_to_items(nodes: list[Any]) -> list[dict]:
    """Turn extruct's expanded RDFa graph into nested schema.org dicts like JSON-LD."""
    by_id = {node["@id"]: node for node in nodes if isinstance(node, dict) and "@id" in node}
    referenced: set[str] = set()
    for node in by_id.values():
        for prop, values in node.items():
            if prop.startswith("@") or not isinstance(values, list):
                continue
            referenced.update(v["@id"] for v in values if isinstance(v, dict) and "@id" in v)

    def convert(node: dict, depth: int) -> dict:
        result: dict[str, Any] = {"@type": [_short_type(t) for t in _as_list(node.get("@type", []))]}
        for prop, values in node.items():
            if prop.startswith("@") or "schema.org" not in prop or not isinstance(values, list):
                continue
            converted = []
            for value in values:
                if not isinstance(value, dict):
                    converted.append(value)
                elif "@value" in value:
                    converted.append(value["@value"])
                elif "@id" in value:
                    target = by_id.get(value["@id"])
                    converted.append(convert(target, depth + 1) if target and depth < 6 else value["@id"])
            result[_short_type(prop)] = converted[0] if len(converted) == 1 else converted
        return result

    roots = []
    for node_id, node in by_id.items():
        if node_id in referenced:
            continue
        if any("schema.org" in str(t) for t in _as_list(node.get("@type", []))):
            roots.append(convert(node, 0))
    return roots


def _jsonld_fallback(root: Any) -> list[Any]:
    """Parse JSON-LD scripts one by one so one broken script does not hide the others."""
    items: list[Any] = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        body = (script.text or "").strip()
        if not body:
            continue
        body = re.sub(r"^\s*<!--|-->\s*$", "", body)
        try:
            items.append(json.loads(body, strict=False))
        except ValueError:
            log.debug("skipping unparseable JSON-LD block")
    return items


_RDFA_HINT = re.compile(r"""\s(?:typeof|vocab)\s*=\s*["'][^"']*""", re.I)


def _extract_schema(root: Any, text: str, url: str | None, today: date, order: str | None) -> tuple[_SchemaData, list[str]]:
    data = _SchemaData([], [])
    warnings: list[str] = []
    if "ld+json" in text.lower():
        try:
            jsonld = extruct.extract(root, base_url=url, syntaxes=["json-ld"], errors="strict")["json-ld"]
        except Exception as exc:  # one malformed block makes extruct give up on all of them
            log.debug("extruct JSON-LD failed (%s); parsing blocks one by one", exc)
            jsonld = _jsonld_fallback(root)
        _walk_schema(jsonld, None, 0, "json-ld", data, today, order)
    if "itemscope" in text.lower():
        try:
            microdata = extruct.extract(
                root, base_url=url, syntaxes=["microdata"], uniform=True, errors="strict"
            )["microdata"]
        except Exception as exc:
            warnings.append(f"microdata could not be read: {exc}")
            microdata = []
        _walk_schema(microdata, None, 0, "microdata", data, today, order)
    # RDFa parsing is slow, so only when the page carries RDFa typing and schema.org at all.
    if _RDFA_HINT.search(text) and "schema.org" in text:
        try:
            rdfa = extruct.extract(text, base_url=url, syntaxes=["rdfa"], errors="strict")["rdfa"]
            _walk_schema(_rdfa_to_items(rdfa), None, 0, "rdfa", data, today, order)
        except Exception as exc:
            warnings.append(f"RDFa could not be read: {exc}")
    return data, warnings


# --------------------------------------------------------------------------- combining


def _pair_key(review: ExtractedReview) -> str:
    return _text_match_key(review.text)


def _merge_reviews(primary: list[ExtractedReview], secondary: list[ExtractedReview]) -> list[ExtractedReview]:
    """Fill gaps in ``primary`` reviews from the same reviews found in ``secondary``.

    The same review is recognised by its site id, else by the start of its text and an author
    that does not differ. Each review of ``secondary`` completes at most one: two patients'
    "Great service" are two reviews, not one review found twice.
    """
    by_id = {r.site_review_id: r for r in secondary if r.site_review_id}
    by_text: dict[str, list[ExtractedReview]] = {}
    for review in secondary:
        key = _pair_key(review)
        if key:
            by_text.setdefault(key, []).append(review)
    used: set[int] = set()

    def same_author(a: ExtractedReview, b: ExtractedReview) -> bool:
        return not a.author or not b.author or _normalised_text_for_key(a.author) == _normalised_text_for_key(b.author)

    def free(candidates, review) -> ExtractedReview | None:
        return next((c for c in candidates if id(c) not in used and same_author(c, review)), None)

    for review in primary:
        partner = by_id.get(review.site_review_id) if review.site_review_id else None
        if partner is not None and id(partner) in used:
            partner = None
        if partner is None:
            key = _pair_key(review)
            partner = free(by_text.get(key, ()), review) if key else None
            if partner is None and key and len(key) >= 20:
                partner = free((r for k, group in by_text.items() for r in group
                                if k.startswith(key[:40]) or key.startswith(k[:40])), review)
        if partner is None:
            continue
        used.add(id(partner))
        for name in ("author", "date", "rating", "site_review_id", "reply", "title", "subject"):
            if getattr(review, name) in (None, "") and getattr(partner, name) not in (None, ""):
                setattr(review, name, getattr(partner, name))
        if review.reply is None and partner.reply is not None:
            review.reply = partner.reply  # the partner's layout knows there is no reply
        if not review.text and partner.text:
            review.text = partner.text
    return primary


def _merge_aggregates(primary: AggregateRating, secondary: AggregateRating) -> AggregateRating:
    return AggregateRating(
        rating=primary.rating if primary.rating is not None else secondary.rating,
        count=primary.count if primary.count is not None else secondary.count,
    )


def _page_base_url(root: Any, url: str | None) -> str | None:
    """The URL relative links resolve against: <base href>, the fetch URL, else canonical."""
    for base in root.iter("base"):
        href = base.get("href")
        if href:
            return join_url(url or "", href.strip()) or url
    if url:
        return url
    for link in root.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            return link.get("href").strip()
    for meta in root.iter("meta"):
        if (meta.get("property") or "").lower() == "og:url" and meta.get("content"):
            return meta.get("content").strip()
    return None


def _resolve_link(href: str | None, base: str | None, current: str | None) -> str | None:
    if not href:
        return None
    resolved = join_url(base, href) if base else href
    if resolved is None:
        return None
    if current and resolved.split("#")[0] == current.split("#")[0]:
        return None  # a "next" link to the page itself would loop
    return resolved


# --------------------------------------------------------------------------- site detection

_CANONICAL_URL = re.compile(
    r"""<(?:link|meta)\b[^>]*(?:rel=["']?canonical|property=["']og:url)[^>]*>""", re.I
)
_HREF_OR_CONTENT = re.compile(r"""(?:href|content)\s*=\s*["']([^"']+)""", re.I)


def detect_site(url_or_html: str | bytes | None, *, by_markers: bool = True) -> str | None:
    """Name the known review site (``prodoctorov``, ``zoon``, ``ratemds``, ``yelp``, ``trustpilot``, ``google_maps``, ...).

    Accepts a URL or a page's HTML. For HTML the canonical/og:url address decides first,
    then (unless ``by_markers`` is False) the site's tell-tale strings. Returns None for an
    unknown site.
    """
    if url_or_html is None:
        return None
    if isinstance(url_or_html, bytes):
        url_or_html = url_or_html[:2_000_000].decode("utf-8", errors="replace")
    text = url_or_html.strip()
    if not text:
        return None
    if "<" not in text[:2000] and re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        return site_for_url(text)
    if "<" not in text[:2000] and " " not in text and "." in text:
        return site_for_url("http://" + text)
    for tag in _CANONICAL_URL.findall(text[:300_000]):
        address = _HREF_OR_CONTENT.search(tag)
        if address:
            site = site_for_url(address.group(1))
            if site:
                return site
    if not by_markers:
        return None
    lowered = text.lower()
    scores = {
        name: sum(lowered.count(marker.lower()) for marker in adapter.markers)
        for name, adapter in SITES.items()
    }
    best = max(scores.items(), key=lambda item: item[1])
    return best[0] if best[1] > 0 else None


# --------------------------------------------------------------------------- entry point


def extract_page(
    content: bytes,
    url: str | None = None,
    site: str | None = None,
    *,
    today: date | None = None,
    selector_config: dict | SelectorConfig | None = None,
    http_charset: str | None = None,
) -> ExtractedPage:
    """Extract the reviews, aggregate rating and next-page link of one page.

    ``content`` is the page as served (bytes; the real encoding is detected). ``url`` is
    where it came from (for site detection and relative links); ``site`` forces a site
    adapter; ``today`` is the reference date for relative and year-less dates;
    ``selector_config`` (validated with ``validate_selector_config``) replaces the site's
    built-in selectors, or serves a site without one; ``http_charset`` is the charset from
    the HTTP response, if any.

    Raises ``LayoutChanged`` when a site adapter or selector config finds no reviews and
    the page has no schema.org reviews either (and does not say it has no reviews), and
    ``NoReviewData`` (a ``LayoutChanged``) for an unknown page without any review data.
    Raises ``SelectorConfigError`` for an invalid ``selector_config``. Malformed HTML never
    raises.
    """
    if isinstance(content, str):
        content = content.encode("utf-8")
    today = today or date.today()
    decoded = decode_html(content or b"", http_charset)
    root = _parse_html(decoded.text)

    # With an address, a page on an unknown host is named only by its canonical address: a
    # clinic's own page that embeds a Google map or a Trustpilot widget is neither site.
    site_name = site or (site_for_url(url) if url else None) or detect_site(decoded.text, by_markers=not url)
    if site_name is None and url:
        site_name = hostname_of(url).removeprefix("www.") or None
    if isinstance(selector_config, SelectorConfig):
        config: SelectorConfig | None = selector_config
    elif selector_config is not None:
        config = validate_selector_config(selector_config)
    else:
        config = _site_config(site_name)
    order = config.date_order if config else None

    warnings: list[str] = []
    schema, schema_warnings = _extract_schema(root, decoded.text, url, today, order)
    warnings.extend(schema_warnings)
    schema_aggregate = schema.best_aggregate()
    base = _page_base_url(root, url)

    dom: _DomResult | None = None
    if config is not None:
        try:
            dom = _extract_with_selectors(config, root, today)
        except RecursionError:
            warnings.append("page too deeply nested for the selectors")
            dom = None

    if dom is not None and dom.reviews:
        warnings.extend(dom.warnings)
        if config is not None and config.prefer == "schema" and schema.reviews:
            reviews = _merge_reviews(schema.reviews, dom.reviews)
        else:
            reviews = _merge_reviews(dom.reviews, schema.reviews)
    elif schema.reviews:
        reviews = schema.reviews
        if dom is not None and config is not None and dom.containers == 0:
            warnings.append("site selectors found no reviews; used the page's schema.org data")
    else:
        reviews = []

    if dom is not None and config is not None and config.prefer == "dom":
        aggregate = _merge_aggregates(dom.aggregate, schema_aggregate)
    elif dom is not None:
        aggregate = _merge_aggregates(schema_aggregate, dom.aggregate)
    else:
        aggregate = schema_aggregate

    if not reviews:
        says_empty = (dom is not None and dom.is_empty) or aggregate.count == 0
        if config is not None and not says_empty:
            tried = ", ".join(selector.source for selector in config.review)
            if dom is not None and dom.containers:
                reason = (
                    f"{dom.containers} review container(s) matched ({tried}) but no text or rating "
                    "could be read from them, and the page has no schema.org reviews"
                )
            else:
                reason = f"no review containers matched ({tried}) and the page has no schema.org reviews"
            raise LayoutChanged(site_name, url, reason)
        if config is None and aggregate.is_empty():
            raise NoReviewData(
                site_name,
                url,
                "no schema.org Review/AggregateRating data, and no site adapter or selector config for this page",
            )

    category_aggregate = None
    if dom is not None and dom.is_category:
        category_aggregate, aggregate = aggregate, AggregateRating()

    if dom is not None and dom.next_page is not None:
        next_href = dom.next_page
    elif config is not None and config.next_page:
        next_href = None  # the site's pager is authoritative; no generic guess
    else:
        next_href = _link_value(_GENERIC_NEXT, root)
    next_page_url = _resolve_link(next_href, base, url)

    return ExtractedPage(
        site=site_name,
        reviews=reviews,
        aggregate=aggregate,
        next_page_url=next_page_url,
        encoding=decoded.encoding,
        url=url,
        category_aggregate=category_aggregate,
        warnings=warnings,
        heading=page_heading(root),
    )


HEADING_LENGTH = 200


def page_heading(root: Any) -> str | None:
    """The page's own name for what it is about: its first ``<h1>``, else ``og:title``, else ``<title>``.

    Review sites head a doctor's page with the doctor's name ("Цуканова Ольга Владимировна
    Видное", "Dr. Hilary Pada"); ``match_doctor`` links a new source to the doctor so named.
    """
    for path in ("//h1", "//meta[@property='og:title']/@content", "//title"):
        for node in root.xpath(path)[:3]:
            text = " ".join((node if isinstance(node, str) else node.text_content()).split())
            if text:
                return text[:HEADING_LENGTH]
    return None
