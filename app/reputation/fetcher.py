"""A polite fetcher for review pages. No database: callers keep the state it hands back.

Politeness rules, all enforced here:

* a descriptive User-Agent, ``VernostBot/<version> (+<contact url>)``;
* robots.txt is read once per host (cached) and obeyed as RFC 9309 has it (the longest
  matching rule wins, ``*`` and ``$`` wildcards), including ``Crawl-delay``; an
  unreachable robots.txt (5xx, network error) means "disallow everything";
* one request at a time per host, at least ``delay`` seconds apart;
* timeouts, and retries with exponential backoff on connection errors, timeouts, 429 and
  5xx, honouring ``Retry-After`` up to a cap;
* conditional GET: the ETag / Last-Modified of the previous run are sent back and a 304
  (or byte-identical content) yields ``not_modified`` without re-extracting;
* pagination through ``next_page_url``, on the same host, up to ``max_pages``;
* addresses on private networks are refused unless explicitly allowed (the URLs come from
  tenants' settings).

Waiting goes through injectable ``sleep`` and ``clock`` functions so tests run fast.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable

import httpx
from protego import Protego

from app.reputation.extract import (
    AggregateRating,
    ExtractedReview,
    LayoutChanged,
    SelectorConfig,
    SelectorConfigError,
    extract_page,
    validate_selector_config,
)
from app.net import is_private_host, public_only_transport, refused_as_private
from app.urls import hostname_of, join_url, split_url

log = logging.getLogger(__name__)

BOT_NAME = "VernostBot"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 15 * 1024 * 1024
ROBOTS_TTL_SECONDS = 24 * 3600
# A robots.txt Crawl-delay larger than this is treated as this (the source is then slow, not stuck).
MAX_CRAWL_DELAY = 120.0

# Result statuses of a page and of a whole source.
OK = "ok"
NOT_MODIFIED = "not_modified"
BLOCKED_BY_ROBOTS = "blocked_by_robots"
BLOCKED_ADDRESS = "blocked_address"
HTTP_ERROR = "http_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
LAYOUT_CHANGED = "layout_changed"
TOO_LARGE = "too_large"
INVALID_URL = "invalid_url"
INVALID_CONFIG = "invalid_config"


def bot_version() -> str:
    """The version in the User-Agent: the installed package's, else the project's."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("vernost")
    except (ImportError, PackageNotFoundError):
        return "0.1.0"


def user_agent(contact_url: str, version: str | None = None) -> str:
    """``VernostBot/<version> (+<contact url>)``; the contact URL tells site owners who we are."""
    if not contact_url or not contact_url.strip():
        raise ValueError("a contact URL for the User-Agent is required (e.g. the product's bot info page)")
    return f"{BOT_NAME}/{version or bot_version()} (+{contact_url.strip()})"


# --------------------------------------------------------------------------- results


@dataclass
class PageFetch:
    """What happened to one page: its status, the HTTP status and how many reviews it gave."""

    url: str
    status: str
    reason: str = ""
    http_status: int | None = None
    attempts: int = 0
    reviews: int = 0
    bytes: int = 0
    encoding: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The page outcome as a plain dict."""
        return dict(self.__dict__)


@dataclass
class SourceFetch:
    """The outcome of fetching one review source (a first page and its following pages).

    ``status`` is the first page's status (``ok``, ``not_modified``, ``blocked_by_robots``,
    ``http_error``, ``timeout``, ``connection_error``, ``layout_changed``, ...). When a later
    page fails the status stays ``ok`` and ``complete`` is False. ``state`` holds the
    validators to pass back next time (none after a failed later page, so the next run
    reads every page again).
    """

    url: str
    status: str
    reason: str = ""
    site: str | None = None
    reviews: list[ExtractedReview] = field(default_factory=list)
    aggregate: AggregateRating = field(default_factory=AggregateRating)
    category_aggregate: AggregateRating | None = None
    heading: str | None = None  # the first page's heading (``extract.page_heading``)
    pages: list[PageFetch] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    http_status: int | None = None
    complete: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the source was read (fully or partly) or had not changed."""
        return self.status in (OK, NOT_MODIFIED)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary with the extracted reviews."""
        data: dict[str, Any] = {
            "url": self.url,
            "status": self.status,
            "reason": self.reason,
            "http_status": self.http_status,
            "site": self.site,
            "heading": self.heading,
            "complete": self.complete,
            "reviews": [review.to_json_dict(self.site) for review in self.reviews],
            "aggregate": self.aggregate.to_json_dict(),
            "pages": [page.to_json_dict() for page in self.pages],
            "state": self.state,
        }
        if self.category_aggregate is not None:
            data["category_aggregate"] = self.category_aggregate.to_json_dict()
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


class FetchFailed(Exception):
    """A request that failed for good; ``status`` is one of the result statuses."""

    def __init__(self, status: str, reason: str, http_status: int | None = None, attempts: int = 0):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.http_status = http_status
        self.attempts = attempts


@dataclass
class Response:
    """A completed HTTP response as the fetcher needs it."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes
    attempts: int

    @property
    def charset(self) -> str | None:
        """The charset named in Content-Type, if any."""
        content_type = self.headers.get("content-type", "")
        for part in content_type.split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now_ts = now if now is not None else time.time()
    return max(0.0, when.timestamp() - now_ts)




def _host_key(url: str) -> str:
    parts = split_url(url)
    if parts is None:
        return url.lower()
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def _robots_text(content: bytes) -> str:
    """robots.txt as text: UTF-8 (RFC 9309) without a byte-order mark, which would hide the first line."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        # A stray byte spoils only the rule it is in; the other rules still count.
        return content.decode("utf-8-sig", errors="replace")


@dataclass
class _RobotsEntry:
    parser: Protego | None  # None: allow everything (no robots.txt)
    disallow_all_reason: str | None
    fetched_at: float


class PoliteFetcher:
    """Fetches pages politely (see the module docstring). Share one instance between workers.

    ``contact_url`` goes into the User-Agent. ``delay`` is the minimum gap between two
    requests to the same host (a robots.txt Crawl-delay may raise it). ``sleep``/``clock``
    are injectable so tests need not wait. ``client`` may be a caller's ``httpx.Client``
    (it is not closed here).
    """

    def __init__(
        self,
        contact_url: str,
        *,
        client: httpx.Client | None = None,
        delay: float = 1.0,
        timeout: float = 20.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        respect_robots: bool = True,
        allow_private: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] | None = None,
        version: str | None = None,
    ):
        self.user_agent = user_agent(contact_url, version)
        self.delay = max(0.0, float(delay))
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self.max_retries = max(0, int(max_retries))
        self.backoff = max(0.0, float(backoff))
        self.max_backoff = max(0.0, float(max_backoff))
        self.respect_robots = respect_robots
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter if jitter is not None else (lambda: random.uniform(0.0, 0.25))
        self._client = client
        self._owns_client = client is None
        self._robots: dict[str, _RobotsEntry] = {}
        self._host_locks: dict[str, threading.Lock] = {}
        self._host_last_request: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self._registry_lock = threading.Lock()

    # -- lifecycle

    @property
    def client(self) -> httpx.Client:
        """The HTTP client (created on first use when none was given)."""
        if self._client is None:
            # Redirects are followed by hand so each hop passes robots and host checks.
            # Unless told otherwise, the address is checked again when connecting (app.net).
            transport = None if self.allow_private else public_only_transport()
            self._client = httpx.Client(follow_redirects=False, timeout=self.timeout, transport=transport)
        return self._client

    def close(self) -> None:
        """Close the HTTP client if this fetcher created it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "PoliteFetcher":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- per-host politeness

    def _lock_for(self, host: str) -> threading.Lock:
        with self._registry_lock:
            return self._host_locks.setdefault(host, threading.Lock())

    def _wait_turn(self, host: str) -> None:
        """Sleep until ``delay`` (or the host's Crawl-delay) has passed since the host's last request."""
        gap = max(self.delay, self._host_delay.get(host, 0.0))
        last = self._host_last_request.get(host)
        if last is not None and gap > 0:
            remaining = last + gap - self.clock()
            if remaining > 0:
                self.sleep(remaining)

    def _backoff_seconds(self, attempt: int, retry_after: float | None) -> float:
        exponential = self.backoff * (2**attempt) + (self.jitter() if self.backoff else 0.0)
        wait = max(exponential, retry_after or 0.0)
        return min(wait, self.max_backoff)

    # -- requests

    def _send_once(self, url: str, headers: dict[str, str]) -> Response:
        with self.client.stream("GET", url, headers=headers, timeout=self.timeout) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchFailed(TOO_LARGE, f"response larger than {self.max_bytes} bytes", response.status_code)
                chunks.append(chunk)
            return Response(str(response.url), response.status_code, response.headers, b"".join(chunks), 0)

    def _request_with_retries(self, url: str, headers: dict[str, str], host: str) -> Response:
        """One URL, one host turn: waits for the host, retries transient failures with backoff."""
        attempt = 0
        while True:
            self._wait_turn(host)
            failure: FetchFailed | None = None
            retry_after: float | None = None
            try:
                response = self._send_once(url, headers)
            except FetchFailed:
                self._host_last_request[host] = self.clock()
                raise
            except httpx.TimeoutException as exc:
                failure = FetchFailed(TIMEOUT, f"timed out ({type(exc).__name__})")
            except httpx.ConnectError as exc:
                if refused_as_private(exc):
                    raise FetchFailed(BLOCKED_ADDRESS, f"{split_url(url).hostname} resolves to a private or local address",
                                      attempts=attempt + 1)
                failure = FetchFailed(CONNECTION_ERROR, f"connection failed ({type(exc).__name__}: {exc})")
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                failure = FetchFailed(CONNECTION_ERROR, f"connection failed ({type(exc).__name__}: {exc})")
            except httpx.InvalidURL as exc:
                raise FetchFailed(INVALID_URL, f"invalid URL ({exc})", attempts=attempt + 1)
            except (httpx.HTTPError, httpx.StreamError) as exc:
                raise FetchFailed(CONNECTION_ERROR, f"request failed ({type(exc).__name__}: {exc})", attempts=attempt + 1)
            else:
                if response.status_code not in RETRY_STATUSES:
                    self._host_last_request[host] = self.clock()
                    response.attempts = attempt + 1
                    return response
                failure = FetchFailed(HTTP_ERROR, f"HTTP {response.status_code}", response.status_code)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            self._host_last_request[host] = self.clock()
            failure.attempts = attempt + 1
            if attempt >= self.max_retries:
                if attempt:
                    failure.reason += f" after {attempt + 1} attempts"
                raise failure
            wait = self._backoff_seconds(attempt, retry_after)
            log.info("retrying %s in %.1fs: %s", url, wait, failure.reason)
            self.sleep(wait)
            attempt += 1

    # -- robots.txt

    def _robots_for(self, url: str) -> _RobotsEntry:
        host = _host_key(url)
        cached = self._robots.get(host)
        if cached is not None and self.clock() - cached.fetched_at < ROBOTS_TTL_SECONDS:
            return cached
        with self._lock_for(host):
            # Another worker may have fetched it while this one waited for the host.
            cached = self._robots.get(host)
            if cached is not None and self.clock() - cached.fetched_at < ROBOTS_TTL_SECONDS:
                return cached
            entry = self._download_robots(host)
            self._robots[host] = entry
            return entry

    def _download_robots(self, host: str) -> _RobotsEntry:
        robots_url = host + "/robots.txt"
        try:
            response = self._request_with_retries(robots_url, {"User-Agent": self.user_agent}, host)
        except FetchFailed as exc:
            # RFC 9309: an unreachable robots.txt means complete disallow.
            return _RobotsEntry(None, f"robots.txt unreachable ({exc.reason})", self.clock())
        if 200 <= response.status_code < 300:
            parser = Protego.parse(_robots_text(response.content))
            crawl_delay = parser.crawl_delay(BOT_NAME)
            if crawl_delay:
                self._host_delay[host] = min(float(crawl_delay), MAX_CRAWL_DELAY)
            return _RobotsEntry(parser, None, self.clock())
        if response.status_code in REDIRECT_STATUSES or 400 <= response.status_code < 500:
            return _RobotsEntry(None, None, self.clock())  # no robots.txt: everything allowed
        return _RobotsEntry(None, f"robots.txt unreachable (HTTP {response.status_code})", self.clock())

    def robots_allows(self, url: str) -> tuple[bool, str]:
        """Whether robots.txt lets this bot fetch ``url``, with the reason when it does not."""
        if not self.respect_robots:
            return True, ""
        entry = self._robots_for(url)
        if entry.disallow_all_reason:
            return False, entry.disallow_all_reason
        if entry.parser is not None and not entry.parser.can_fetch(url, BOT_NAME):
            return False, "disallowed by robots.txt"
        return True, ""

    # -- public

    def fetch(self, url: str, *, validators: dict[str, Any] | None = None) -> Response:
        """GET a page politely, following redirects by hand; raise ``FetchFailed`` when it cannot.

        ``validators`` may hold ``etag`` / ``last_modified`` from a previous response; they
        are sent as If-None-Match / If-Modified-Since and a 304 is returned as is.
        """
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parts = split_url(current)
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchFailed(INVALID_URL, f"not an http(s) URL: {current!r}")
            if not self.allow_private and is_private_host(parts.hostname):
                raise FetchFailed(BLOCKED_ADDRESS, f"{parts.hostname} is a private or local address")
            allowed, why = self.robots_allows(current)
            if not allowed:
                raise FetchFailed(BLOCKED_BY_ROBOTS, why)
            headers = {"User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
            if validators and current == url:
                if validators.get("etag"):
                    headers["If-None-Match"] = str(validators["etag"])
                if validators.get("last_modified"):
                    headers["If-Modified-Since"] = str(validators["last_modified"])
            host = _host_key(current)
            with self._lock_for(host):
                response = self._request_with_retries(current, headers, host)
            if response.status_code in REDIRECT_STATUSES and response.headers.get("location"):
                target = join_url(current, response.headers["location"])
                if target is None:
                    raise FetchFailed(INVALID_URL, f"unusable redirect from {current}: {response.headers['location']!r}")
                current = target
                continue
            return response
        raise FetchFailed(HTTP_ERROR, f"more than {MAX_REDIRECTS} redirects")


# --------------------------------------------------------------------------- sources


def _content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def fetch_source(
    url: str,
    *,
    state: dict[str, Any] | None = None,
    max_pages: int = 5,
    delay: float = 1.0,
    client: httpx.Client | None = None,
    contact_url: str | None = None,
    fetcher: PoliteFetcher | None = None,
    site: str | None = None,
    selector_config: dict | SelectorConfig | None = None,
    today: date | None = None,
    sleep: Callable[[float], None] | None = None,
    timeout: float = 20.0,
    max_retries: int = 3,
    allow_private: bool = False,
) -> SourceFetch:
    """Fetch a review source and its following pages; never raises for network or page problems.

    ``state`` is what the previous call returned in ``SourceFetch.state`` (ETag,
    Last-Modified, content hash of the first page); an unchanged first page gives
    ``not_modified``. Pages are followed through ``next_page_url`` on the same host, up to
    ``max_pages``. Pass a shared ``fetcher`` so several sources on one host are spaced
    politely; otherwise one is made from ``contact_url``, ``delay``, ``client``, ``sleep``,
    ``timeout``, ``max_retries`` and ``allow_private``.
    """
    state = dict(state or {})
    result = SourceFetch(url=url, status=OK, state=state)
    if isinstance(selector_config, dict):
        try:
            selector_config = validate_selector_config(selector_config)
        except SelectorConfigError as exc:
            result.status, result.reason = INVALID_CONFIG, str(exc)
            return result

    own_fetcher = fetcher is None
    if fetcher is None:
        if not contact_url:
            raise ValueError("fetch_source needs contact_url (for the User-Agent) or a PoliteFetcher")
        fetcher = PoliteFetcher(
            contact_url,
            client=client,
            delay=delay,
            timeout=timeout,
            max_retries=max_retries,
            allow_private=allow_private,
            sleep=sleep or time.sleep,
        )
    try:
        _fetch_pages(fetcher, url, state, max_pages, site, selector_config, today, result)
    finally:
        if own_fetcher:
            fetcher.close()
    return result


def _fetch_pages(
    fetcher: PoliteFetcher,
    url: str,
    state: dict[str, Any],
    max_pages: int,
    site: str | None,
    selector_config: SelectorConfig | None,
    today: date | None,
    result: SourceFetch,
) -> None:
    seen_keys: set[str] = set()
    visited: set[str] = set()
    page_url: str | None = url
    first_host = hostname_of(url)  # replaced by the host page 1 ends up on after redirects
    while page_url and len(result.pages) < max(1, max_pages):
        is_first = not result.pages
        visited.add(page_url.split("#")[0])
        page = PageFetch(url=page_url, status=OK)
        result.pages.append(page)
        try:
            response = fetcher.fetch(page_url, validators=state if is_first else None)
        except FetchFailed as exc:
            page.status, page.reason, page.http_status, page.attempts = exc.status, exc.reason, exc.http_status, exc.attempts
            _page_failed(result, page, is_first)
            return
        except Exception as exc:  # a bug or an odd transport error must not take the worker down
            log.exception("fetching %s failed", page_url)
            page.status, page.reason = CONNECTION_ERROR, f"fetch failed: {type(exc).__name__}: {exc}"
            _page_failed(result, page, is_first)
            return
        page.http_status, page.attempts, page.bytes = response.status_code, response.attempts, len(response.content)

        if is_first and response.status_code == 304:
            page.status, page.reason = NOT_MODIFIED, "HTTP 304 Not Modified"
            result.status, result.reason, result.http_status = NOT_MODIFIED, page.reason, 304
            _remember_validators(state, response, None)
            return
        if response.status_code >= 400 or response.status_code < 200 or response.status_code == 304:
            page.status, page.reason = HTTP_ERROR, f"HTTP {response.status_code}"
            _page_failed(result, page, is_first)
            return
        if is_first:
            # A source entered as example.com that redirects to www.example.com paginates there.
            first_host = hostname_of(response.url) or first_host
            result.http_status = response.status_code
            digest = _content_hash(response.content)
            if state.get("content_hash") == digest:
                page.status, page.reason = NOT_MODIFIED, "content unchanged since the last fetch"
                result.status, result.reason = NOT_MODIFIED, page.reason
                _remember_validators(state, response, digest)
                return
            _remember_validators(state, response, digest)

        try:
            extracted = extract_page(
                response.content,
                url=response.url,
                site=site or result.site,
                today=today,
                selector_config=selector_config,
                http_charset=response.charset,
            )
        except LayoutChanged as exc:
            page.status, page.reason = LAYOUT_CHANGED, exc.reason
            if is_first:
                # Nothing was read: let the next run try again rather than skip as unchanged.
                _forget_validators(state)
            _page_failed(result, page, is_first)
            return
        except Exception as exc:  # an extraction bug must not take the worker down
            log.exception("extraction failed for %s", page_url)
            page.status, page.reason = LAYOUT_CHANGED, f"extraction failed: {type(exc).__name__}: {exc}"
            if is_first:
                _forget_validators(state)
            _page_failed(result, page, is_first)
            return

        page.encoding = extracted.encoding
        if is_first:
            result.site = extracted.site
            result.aggregate = extracted.aggregate
            result.category_aggregate = extracted.category_aggregate
            result.heading = extracted.heading
        result.warnings.extend(f"{page_url}: {warning}" for warning in extracted.warnings)
        new_reviews = 0
        for review in extracted.reviews:
            key = review.key(extracted.site)
            if key in seen_keys:
                continue
            seen_keys.add(key)
            result.reviews.append(review)
            new_reviews += 1
        page.reviews = new_reviews

        next_url = extracted.next_page_url
        if not next_url:
            return
        next_url = next_url.split("#")[0]
        if next_url in visited:
            result.warnings.append(f"{page_url}: next page {next_url} was already fetched; stopped")
            return
        if hostname_of(next_url) != first_host:
            result.warnings.append(f"{page_url}: next page {next_url} is on another host; not followed")
            return
        if len(result.pages) >= max(1, max_pages):
            result.complete = False
            result.reason = f"stopped after {len(result.pages)} page(s) (max_pages); more pages remain"
            return
        page_url = next_url


def _page_failed(result: SourceFetch, page: PageFetch, is_first: bool) -> None:
    if is_first:
        result.status, result.reason, result.http_status = page.status, page.reason, page.http_status
        return
    result.complete = False
    result.reason = f"page {len(result.pages)} ({page.url}) failed: {page.status}: {page.reason}"
    # Page 1's validators would make the next run answer not_modified and never retry this page.
    _forget_validators(result.state)


def _forget_validators(state: dict[str, Any]) -> None:
    for key in ("content_hash", "etag", "last_modified"):
        state.pop(key, None)


def _remember_validators(state: dict[str, Any], response: Response, digest: str | None) -> None:
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    if etag:
        state["etag"] = etag
    if last_modified:
        state["last_modified"] = last_modified
    if digest:
        state["content_hash"] = digest
    state["fetched_at"] = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
