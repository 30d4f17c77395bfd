"""Web reputation in the database: sources, storing reviews, scrape runs, snapshots, what pages show.

Every function here works in the current clinic's scope (a request's or a job's);
none of them knows about HTTP. Pure parts live beside: extraction and fetching
(``extract``, ``fetcher``), the index formula (``index``), CSV/paste reading
(``importer``), the chart (``chart``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (Branch, Doctor, ExternalReview, Licence, PendingJob, ReputationSnapshot, Response,
                        ResponseAspect, ReviewSource, ScrapeRun, Tenant, utcnow)
from app.models.base import utc_day
from app.parsing import whole_number
from app.reputation.extract import AUTHOR_LENGTH, SITE_LENGTH, SelectorConfigError, detect_site, review_key, validate_selector_config
from app.reputation.index import (AspectDriver, GroupedIndex, ReputationDrivers, ReviewDriver, ReviewSignal,
                                  reputation_drivers, week_over_week)
from app.urls import hostname_of, split_url
from tenants.context import require_tenant_id
from tenants.licensing import has_module

log = logging.getLogger(__name__)

MODULE = "reputation"
NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
EXCERPT = 240
# An aspect mention this far from 0 counts as praise or complaint; closer is a neutral mention.
ASPECT_POLARITY_THRESHOLD = 0.05


# --------------------------------------------------------------------------- licence and clinic


def reputation_licensed() -> bool:
    """Whether the current clinic's licence includes the reputation module."""
    return has_module(db.session.scalar(select(Licence)), MODULE)


def clinic_today() -> date:
    """Today in the current clinic's time zone."""
    from zoneinfo import ZoneInfo

    tenant = db.session.get(Tenant, require_tenant_id())
    return datetime.now(ZoneInfo(tenant.timezone)).date()


# --------------------------------------------------------------------------- sources


@dataclass
class SourceValues:
    """A review source's fields as a manager or operator entered them, validated."""

    url: str
    label: str
    site: str | None
    branch_id: int | None
    doctor_id: int | None
    selector_config: dict | None
    active: bool


def parse_selector_config(raw: str) -> tuple[dict | None, str | None]:
    """``(config, error)`` from the JSON text of a selector config; empty text is no config."""
    raw = (raw or "").strip()
    if not raw:
        return None, None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, _("Not valid JSON: %(reason)s (line %(line)s, column %(col)s)", reason=exc.msg,
                       line=exc.lineno, col=exc.colno)
    try:
        validate_selector_config(config)
    except SelectorConfigError as exc:
        return None, str(exc)
    return config, None


def validate_source_form(form, *, source: ReviewSource | None = None) -> tuple[SourceValues | None, dict]:
    """Check a source form (url, label, branch_id, doctor_id, selector_config, active); ``(values, errors)``."""
    errors: dict[str, str] = {}
    url = (form.get("url") or "").strip()
    parts = split_url(url) if url else None
    if not url:
        errors["url"] = _("required")
    elif len(url) > 2000 or parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = _("an address starting with http:// or https://")
    else:
        clash = db.session.scalar(select(ReviewSource).where(ReviewSource.url == url))
        if clash is not None and (source is None or clash.id != source.id):
            errors["url"] = _("this page is already a source")
    branch_id = own_object_id(Branch, form.get("branch_id"), errors, "branch_id", _("choose a branch of this clinic"))
    doctor_id = own_object_id(Doctor, form.get("doctor_id"), errors, "doctor_id", _("choose a doctor of this clinic"))
    if branch_id is None:
        branch_id = branch_of_doctor(doctor_id)
    config, config_error = parse_selector_config(form.get("selector_config") or "")
    if config_error:
        errors["selector_config"] = config_error
    if errors:
        return None, errors
    site = detect_site(url)
    return SourceValues(url=url, label=(form.get("label") or "").strip()[:200], site=site, branch_id=branch_id,
                        doctor_id=doctor_id, selector_config=config,
                        active=form.get("active", "") in ("on", "1", "true", "yes")), {}


def own_object_id(model, raw, errors: dict, field: str, message: str) -> int | None:
    """The id in ``raw`` if it names one of this clinic's ``model`` rows; else records ``message`` in ``errors``."""
    raw = (raw or "").strip()
    if not raw:
        return None
    object_id = whole_number(raw)
    if object_id is None or db.session.scalar(select(model.id).where(model.id == object_id)) is None:
        errors[field] = message
        return None
    return object_id


def branch_of_doctor(doctor_id: int | None) -> int | None:
    """The branch a doctor works at (None without a doctor or a branch): where a page about the
    doctor counts when no branch was chosen for it."""
    if doctor_id is None:
        return None
    return db.session.scalar(select(Doctor.branch_id).where(Doctor.id == doctor_id))


def save_source(values: SourceValues, source: ReviewSource | None = None) -> tuple[ReviewSource, int]:
    """Create or update a source; ``(source, reviews moved)``.

    A changed address or adapter forgets the conditional-GET state. A changed branch or doctor
    moves the reviews already read from the page with it (their count is returned) and rewrites
    today's index, so they count where the page now says they belong.
    """
    moved = source is not None and (source.branch_id, source.doctor_id) != (values.branch_id, values.doctor_id)
    if source is None:
        source = ReviewSource()
        db.session.add(source)
    if source.url != values.url or source.selector_config != values.selector_config:
        source.fetch_state = {}
        source.status, source.last_error = "new", ""
    source.url, source.label, source.site = values.url, values.label, values.site
    source.branch_id, source.doctor_id = values.branch_id, values.doctor_id
    source.selector_config, source.active = values.selector_config, values.active
    db.session.flush()
    return source, (_reattribute_reviews(source) if moved else 0)


def _reattribute_reviews(source: ReviewSource) -> int:
    """Give a source's stored reviews the source's branch and doctor; today's index follows."""
    result = db.session.execute(update(ExternalReview).where(ExternalReview.source_id == source.id)
                                .values(branch_id=source.branch_id, doctor_id=source.doctor_id))
    if result.rowcount:
        compute_snapshots()
    return result.rowcount


def list_sources() -> list[ReviewSource]:
    """The clinic's sources, newest last."""
    return list(db.session.scalars(select(ReviewSource).order_by(ReviewSource.id)))


def source_review_counts() -> dict[int, int]:
    """Number of stored reviews per source id."""
    rows = db.session.execute(select(ExternalReview.source_id, func.count())
                              .where(ExternalReview.source_id.is_not(None)).group_by(ExternalReview.source_id))
    return {source_id: count for source_id, count in rows}


# --------------------------------------------------------------------------- storing reviews


@dataclass
class ReviewInput:
    """A review to store, from a scrape or an import."""

    site: str
    text: str
    rating: float | None = None
    published_on: date | None = None
    author: str = ""
    site_review_id: str | None = None
    reply: str | None = None
    url: str = ""
    branch_id: int | None = None
    doctor_id: int | None = None

    @property
    def key(self) -> str:
        """The dedup key: site + the site's id, else a hash of the normalised text."""
        return review_key(self.site, self.site_review_id, self.text, author=self.author, rating=self.rating)


def _existing_replies(keys: list[str]) -> dict[str, str | None]:
    """The stored reviews among ``keys``, each with its stored reply."""
    found: dict[str, str | None] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        found.update((key, reply) for key, reply in db.session.execute(
            select(ExternalReview.key, ExternalReview.reply).where(ExternalReview.key.in_(chunk))))
    return found


def _take_new_replies(batch: dict[str, "ReviewInput"], existing: dict[str, str | None]) -> None:
    """A reply the clinic wrote after a review was first read is taken on a later read (and a
    review read before its layout's replies were known learns it has none)."""
    written = {key: batch[key].reply for key, stored in existing.items() if stored in (None, "") and batch[key].reply}
    for key, reply in written.items():
        db.session.execute(update(ExternalReview).where(ExternalReview.key == key).values(reply=reply))
    none = [key for key, stored in existing.items() if stored is None and batch[key].reply == ""]
    for start in range(0, len(none), 500):
        db.session.execute(update(ExternalReview).where(ExternalReview.key.in_(none[start:start + 500]))
                           .values(reply=""))


def analyse_review(rating: float | None, text: str, scored=None) -> dict:
    """Label, polarity, contradiction flag and aspects of one review.

    The star rating is the truth for the label (``review_label``); the text model
    gives the polarity and flags a rating the wording contradicts.
    """
    from app.nlp.sentiment import label_from_rating, rating_contradicts_text
    from app.nlp.topics import tag_aspects
    from app.reputation.clinic_model import clinic_scorer

    if not text.strip():
        return {"sentiment_label": label_from_rating(rating), "sentiment_polarity": None,
                "contradiction": False, "topics": {}}
    scored = scored or clinic_scorer().score(text)
    # Same rule as app.nlp.sentiment.review_label, without scoring the text twice.
    label = label_from_rating(rating) or scored.label
    return {"sentiment_label": label, "sentiment_polarity": round(float(scored.polarity), 4),
            "contradiction": rating_contradicts_text(rating, scored), "topics": tag_aspects(text)}


def store_reviews(reviews: list[ReviewInput], *, origin: str, source: ReviewSource | None = None) -> int:
    """Add the reviews not seen before (by ``key``), scored and tagged; returns how many were new.

    Flushes but does not commit. Duplicates within the batch and against stored
    reviews are skipped, so a re-scrape adds only new reviews; a stored review only takes the
    clinic's reply when one has appeared since.
    """
    from app.reputation.clinic_model import clinic_scorer

    batch: dict[str, ReviewInput] = {}
    for review in reviews:
        batch.setdefault(review.key, review)
    if not batch:
        return 0
    with db.session.no_autoflush:  # nothing pending can match; skip flushing before the lookup
        existing = _existing_replies(list(batch))
    _take_new_replies(batch, existing)
    fresh = [(key, review) for key, review in batch.items() if key not in existing]
    if not fresh:
        return 0
    texts = [review.text for _, review in fresh if review.text.strip()]
    scores = iter(clinic_scorer().predict(texts)) if texts else iter(())
    tenant_id, now = require_tenant_id(), utcnow()
    rows = []
    for key, review in fresh:
        scored = next(scores) if review.text.strip() else None
        rows.append(dict(
            tenant_id=tenant_id, key=key, origin=origin, source_id=source.id if source else None,
            site=(review.site or "")[:SITE_LENGTH],
            site_review_id=(review.site_review_id or None) and str(review.site_review_id)[:200],
            url=(review.url or "")[:2000], author=(review.author or "")[:AUTHOR_LENGTH], published_on=review.published_on,
            rating=review.rating, text=review.text, reply=review.reply, first_seen_at=now,
            branch_id=review.branch_id if review.branch_id is not None else (source.branch_id if source else None),
            doctor_id=review.doctor_id if review.doctor_id is not None else (source.doctor_id if source else None),
            **analyse_review(review.rating, review.text, scored)))
    # A bulk INSERT: thousands of reviews per run stay out of the session's identity map, which
    # every commit would otherwise walk (quadratic over a run). The clinic is stamped explicitly;
    # RLS checks it on PostgreSQL.
    db.session.execute(insert(ExternalReview), rows)
    news = [row["key"] for row in rows if row["sentiment_label"] == NEGATIVE and _is_news(row["published_on"], now)]
    if news:
        _announce_negative(news)
    return len(fresh)


# Events promised by store_reviews, sent by send_review_events once the caller has committed.
_PROMISED_EVENTS = "vernost.review_events"


def _announce_negative(keys: list[str]) -> None:
    from app.webhooks import announce_negative_reviews

    ids = list(db.session.scalars(select(ExternalReview.id).where(ExternalReview.key.in_(keys))
                                  .order_by(ExternalReview.id)))
    db.session.info.setdefault(_PROMISED_EVENTS, []).extend(announce_negative_reviews(ids))


def send_review_events() -> None:
    """After the commit that stored reviews: hand their webhook events to the queue.

    Without this call they still go, a little later, with the outbox's sweep.
    """
    from jobs.outbox import flush_outbox

    job_ids = db.session.info.pop(_PROMISED_EVENTS, [])
    if job_ids:
        flush_outbox(job_ids)


# The site of imported or pasted reviews that name none.
IMPORT_SITE = "import"


def site_title(site: str) -> str:
    """A review site's name as the manager reads it (imported reviews may name none)."""
    return str(_("Imported, no site given")) if site == IMPORT_SITE else site


def import_reviews(report, *, origin: str, branch_id: int | None = None, doctor_id: int | None = None) -> tuple[int, int]:
    """Store an ``ImportReport`` all-or-nothing; returns ``(new, duplicates)``. Flushes, does not commit.

    Refuses (ValueError) a report with errors: nothing of a file with a bad row is stored.
    """
    if report.errors:
        raise ValueError("the import has errors; nothing was stored")
    if branch_id is None:
        branch_id = branch_of_doctor(doctor_id)
    inputs = [ReviewInput(site=review.site or IMPORT_SITE, text=review.text, rating=review.rating,
                          published_on=review.published_on, author=review.author, reply=review.reply,
                          branch_id=branch_id, doctor_id=doctor_id) for review in report.reviews]
    new = store_reviews(inputs, origin=origin)
    return new, len(inputs) - new


# --------------------------------------------------------------------------- scraping


def active_run() -> ScrapeRun | None:
    """A scrape run still queued or running for the clinic, if any."""
    return db.session.scalar(select(ScrapeRun).where(ScrapeRun.status.in_(("queued", "running")))
                             .order_by(ScrapeRun.id.desc()))


def latest_run() -> ScrapeRun | None:
    """The clinic's most recent scrape run."""
    return db.session.scalar(select(ScrapeRun).order_by(ScrapeRun.id.desc()))


def start_scrape_run(trigger: str = "manual", job_id: str | None = None) -> ScrapeRun:
    """Add a scrape run and promise its job (outbox); the caller commits, then flushes the outbox.

    A run already queued or running is returned instead of starting a second one.
    """
    from jobs.outbox import defer
    from jobs.queues import make_job_id
    from jobs.scrape import scrape_clinic

    running = active_run()
    if running is not None:
        return running
    run = ScrapeRun(trigger=trigger, status="queued")
    db.session.add(run)
    db.session.flush()
    run.job_id = job_id or make_job_id(require_tenant_id(), "scrape", run.id)
    defer("scrape", scrape_clinic, run.id, job_id=run.job_id)
    return run


def make_fetcher():
    """A polite fetcher configured from the app settings (one per scrape run: robots.txt is cached in it)."""
    from app.reputation.fetcher import PoliteFetcher

    config = current_app.config
    return PoliteFetcher(config["REPUTATION_BOT_CONTACT_URL"], delay=config["REPUTATION_FETCH_DELAY"],
                         timeout=config["REPUTATION_FETCH_TIMEOUT"], max_retries=config["REPUTATION_FETCH_RETRIES"],
                         backoff=config["REPUTATION_RETRY_BACKOFF"],
                         allow_private=config["REPUTATION_ALLOW_PRIVATE"])


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


SEVERAL_BUSINESSES = "several_businesses"


def scrape_source(source: ReviewSource, fetcher, today: date | None = None) -> tuple[str, int]:
    """Fetch one source and store its new reviews; returns ``(status, new reviews)``. Flushes.

    The source keeps the outcome: ``status``, ``last_error`` (the reason, empty when
    fine), ``last_fetched_at``, and the conditional-GET state for the next run.
    """
    from app.reputation.fetcher import fetch_source

    result = fetch_source(source.url, state=source.fetch_state or {}, fetcher=fetcher,
                          max_pages=current_app.config["REPUTATION_MAX_PAGES"], site=source.site,
                          selector_config=source.selector_config, today=today)
    source.last_fetched_at = utcnow()
    source.status = result.status
    source.fetch_state = dict(result.state)
    new = 0
    if result.ok and result.category_aggregate is not None:
        # A category list (Zoon's "polyclinics in the district") carries other clinics' reviews:
        # they must not count in this clinic's index. Its own page on the site is what to add.
        source.status, source.fetch_state, source.last_error = SEVERAL_BUSINESSES, {}, ""
        db.session.flush()
        return source.status, 0
    if result.ok:
        if source.last_success_at is None and source.doctor_id is None:
            _link_to_the_doctor_named(source, result.heading)
        source.last_success_at = source.last_fetched_at
        # A partial read (a later page failed) is still a success; the reason says what is missing.
        source.last_error = "" if result.complete else result.reason[:2000]
        if result.site and not source.site:
            source.site = result.site[:SITE_LENGTH]
        if result.aggregate and result.aggregate.rating is not None:
            source.aggregate_rating = result.aggregate.rating
        if result.aggregate and result.aggregate.count is not None:
            source.aggregate_count = result.aggregate.count
        site = result.site or source.site or hostname_of(source.url)
        inputs = [ReviewInput(site=site, text=review.text or "", rating=review.rating,
                              published_on=_parse_day(review.date), author=review.author or "",
                              site_review_id=review.site_review_id, reply=review.reply, url=source.url)
                  for review in result.reviews]
        new = store_reviews(inputs, origin="scrape", source=source)
    else:
        source.last_error = (result.reason or result.status)[:2000]
    db.session.flush()
    return result.status, new


def _link_to_the_doctor_named(source: ReviewSource, heading: str | None) -> None:
    """On a source's first read: a page headed with the name of one of the clinic's doctors is
    that doctor's page (the manager may change it; later reads leave it as it is)."""
    from app.reputation.linking import match_doctor

    doctors = db.session.execute(select(Doctor.id, Doctor.full_name).where(Doctor.active.is_(True))).tuples()
    doctor_id = match_doctor(heading, doctors)
    if doctor_id is not None:
        source.doctor_id = doctor_id
        if source.branch_id is None:
            source.branch_id = branch_of_doctor(doctor_id)
        log.info("review source %s linked to doctor %s by its page's heading", source.id, doctor_id)


def run_scrape(run: ScrapeRun, today: date | None = None) -> ScrapeRun:
    """Scrape every active source of the run's clinic, committing progress after each source.

    A source that fails is marked with its reason and the others go on; an
    unexpected error in one source is caught, logged and recorded the same way.
    Snapshots are computed at the end. The session is emptied after each source, so
    use the returned run rather than the one passed in.
    """
    today = today or clinic_today()
    run.status, run.started_at = "running", utcnow()
    source_ids = list(db.session.scalars(select(ReviewSource.id).where(ReviewSource.active.is_(True))
                                         .order_by(ReviewSource.id)))
    run.sources_total, run.sources_done, run.sources_failed, run.reviews_new = len(source_ids), 0, 0, 0
    db.session.commit()
    fetcher = make_fetcher()
    try:
        for source_id in source_ids:
            source = db.session.get(ReviewSource, source_id)
            try:
                status, new = scrape_source(source, fetcher, today)
            except Exception as exc:  # one broken source must not stop the others
                log.exception("scraping source %s failed", source_id)
                db.session.rollback()
                db.session.info.pop(_PROMISED_EVENTS, None)  # their deliveries were rolled back too
                source = db.session.get(ReviewSource, source_id)
                source.status, source.last_error = "error", f"{type(exc).__name__}: {exc}"[:2000]
                source.last_fetched_at = utcnow()
                status, new = "error", 0
            if status not in ("ok", "not_modified"):
                run.sources_failed += 1
            run.sources_done += 1
            run.reviews_new += new
            # One commit per source: its reviews, its state and the run's progress together.
            db.session.commit()
            send_review_events()
            # Start each source with an empty session: the sources already read are not kept
            # (a long run would otherwise make every statement slower).
            run_id = run.id
            db.session.expunge_all()
            run = db.session.get(ScrapeRun, run_id)
    finally:
        fetcher.close()
    compute_snapshots(today)
    run.status, run.finished_at = "done", utcnow()
    if run.sources_failed:
        run.message = ngettext("%(failed)s of %(num)s source could not be read.",
                               "%(failed)s of %(num)s sources could not be read.", run.sources_total,
                               failed=run.sources_failed)
    db.session.commit()
    return run


# --------------------------------------------------------------------------- the index


def _written_on():
    """The day a review was written: the site's date, else the UTC day we first saw it (as the index dates it)."""
    return func.coalesce(ExternalReview.published_on, utc_day(ExternalReview.first_seen_at))


def _review_rows(until: date | None = None, *, about_branch_or_doctor: bool = False) -> list:
    """What the index reads of each of the clinic's reviews written by ``until``: rows of ``rating``,
    ``sentiment`` (None for a review without text: scoring leaves its polarity empty), ``day``
    written (else the UTC day first seen), ``branch_id``, ``doctor_id``, ``source_id`` and ``site``.
    ``about_branch_or_doctor``: only the reviews about a branch or a doctor."""
    written_on = _written_on()
    query = select(ExternalReview.rating, ExternalReview.sentiment_polarity.label("sentiment"),
                   written_on.label("day"), ExternalReview.branch_id, ExternalReview.doctor_id,
                   ExternalReview.source_id, ExternalReview.site)
    if until is not None:
        query = query.where(written_on <= until)
    if about_branch_or_doctor:
        query = query.where(or_(ExternalReview.branch_id.is_not(None), ExternalReview.doctor_id.is_not(None)))
    return db.session.execute(query).all()


SCOPE_KINDS = frozenset({"clinic", "branch", "doctor", "source", "site"})


def _grouped_index(rows: list, as_of: date, *, clinic_only: bool = False,
                   kinds: frozenset = SCOPE_KINDS) -> GroupedIndex:
    """The index of every scope as of a day: the clinic, each branch, doctor and source
    (``kinds`` of them only, when given).

    Reviews imported or pasted belong to no source; so that they have a row too, a site
    with any such review is a scope of its own, keyed by the site's name, counting all
    that site's reviews (as its list ``?site=`` shows them).
    """
    grouped = GroupedIndex()
    clinic = ("clinic", 0)
    if clinic_only:
        grouped.add_group(clinic)
        for rating, sentiment, day, *_scopes in rows:
            grouped.add((clinic,), rating, sentiment, float((as_of - day).days))
        return grouped
    if "clinic" in kinds:
        grouped.add_group(clinic)
    sites_without_source = ({site for *_, source_id, site in rows if source_id is None and site}
                            if "site" in kinds else set())
    for rating, sentiment, day, branch_id, doctor_id, source_id, site in rows:
        scopes = [clinic] if "clinic" in kinds else []
        if branch_id is not None and "branch" in kinds:
            scopes.append(("branch", branch_id))
        if doctor_id is not None and "doctor" in kinds:
            scopes.append(("doctor", doctor_id))
        if source_id is not None and "source" in kinds:
            scopes.append(("source", source_id))
        if site in sites_without_source:
            scopes.append(("site", site))
        grouped.add(scopes, rating, sentiment, float((as_of - day).days))
    return grouped


def _scope_index(grouped: GroupedIndex, key: tuple, name: str, week_delta: float | None) -> ScopeIndex:
    current = grouped.index(key)
    return ScopeIndex(key[0], key[1], name, round(current.index, 1) if current else None,
                      current.confidence if current else None, grouped.reviews(key), week_delta)


def compute_snapshots(day: date | None = None) -> dict[tuple[str, int], float | None]:
    """Write the day's index for the clinic and every branch, doctor and source with reviews.

    Sites (the scope of imported reviews) get no snapshot: their week's change is
    recomputed from the reviews, and only the clinic's trend is charted. Idempotent: the
    day's rows are updated in place (unique per clinic, scope, id and day). Only reviews
    published (or first seen) by ``day`` count, aged as of ``day``. The clinic's row keeps what
    moves its index (``index_drivers`` reads it back for today). A scope left without reviews
    loses its row of the day. Flushes; returns ``{(scope, id): value}``.
    """
    day = day or clinic_today()
    grouped = _grouped_index(_review_rows(until=day), day)
    existing = {(s.scope, s.scope_id): s for s in
                db.session.scalars(select(ReputationSnapshot).where(ReputationSnapshot.day == day))}
    values = {}
    for scope, scope_id in grouped.groups():
        if scope == "site":
            continue
        result = grouped.index((scope, scope_id))
        snapshot = existing.get((scope, scope_id))
        if snapshot is None:
            snapshot = ReputationSnapshot(scope=scope, scope_id=scope_id, day=day)
            db.session.add(snapshot)
        snapshot.value = round(result.index, 2) if result else None
        snapshot.confidence = round(result.confidence, 4) if result else None
        snapshot.reviews_used = result.reviews_used if result else 0
        snapshot.effective_reviews = round(result.effective_reviews, 4) if result else 0.0
        snapshot.computed_at = utcnow()
        if scope == "clinic":
            snapshot.drivers = _drivers_record(_live_drivers(None, None, day, DRIVERS_SHOWN))
        values[(scope, scope_id)] = snapshot.value
    # A scope left without reviews (its source now counts for another doctor) keeps no figure
    # of the day: its trend ends where its reviews went.
    gone = [snapshot.id for key, snapshot in existing.items() if key not in values]
    if gone:
        db.session.execute(delete(ReputationSnapshot).where(ReputationSnapshot.id.in_(gone)))
    db.session.flush()
    return values


def trend(scope: str = "clinic", scope_id: int = 0, days: int = 90, today: date | None = None) -> list[tuple[date, float | None]]:
    """Daily snapshot values of a scope over the last ``days`` days (missing days are None)."""
    today = today or clinic_today()
    start = today - timedelta(days=days - 1)
    stored = dict(db.session.execute(select(ReputationSnapshot.day, ReputationSnapshot.value).where(
        ReputationSnapshot.scope == scope, ReputationSnapshot.scope_id == scope_id,
        ReputationSnapshot.day >= start, ReputationSnapshot.day <= today)).all())
    if not stored:
        return []
    first = min(stored)
    return [(first + timedelta(days=i), stored.get(first + timedelta(days=i))) for i in range((today - first).days + 1)]


@dataclass
class ScopeIndex:
    """The index of one scope now, with its change over the week."""

    scope: str
    scope_id: int | str  # a site's name for scope "site"
    name: str
    index: float | None
    confidence: float | None
    reviews: int
    week_delta: float | None


def index_overview(today: date | None = None, *, clinic_only: bool = False) -> list[ScopeIndex]:
    """The index now of the clinic, each branch, doctor, source and site with reviews (clinic first).

    The week's change compares with the snapshot of seven days ago when there is
    one, else with the index recomputed as it stood then from the same reviews.
    ``clinic_only`` gives the clinic's entry alone (the dashboard's card).
    """
    today = today or clinic_today()
    grouped = _grouped_index(_review_rows(until=today), today, clinic_only=clinic_only)
    week_ago = dict(((scope, scope_id), value) for scope, scope_id, value in db.session.execute(
        select(ReputationSnapshot.scope, ReputationSnapshot.scope_id, ReputationSnapshot.value).where(
            ReputationSnapshot.day == today - timedelta(days=7))))
    names = {("clinic", 0): _("Whole clinic")}
    if not clinic_only:
        names.update({("branch", b.id): b.name for b in db.session.scalars(select(Branch))})
        names.update({("doctor", d.id): d.full_name for d in db.session.scalars(select(Doctor))})
        names.update({("source", s.id): s.label or s.url for s in db.session.scalars(select(ReviewSource))})
    order = {"clinic": 0, "branch": 1, "doctor": 2, "source": 3, "site": 4}
    result = []
    for scope, scope_id in sorted(grouped.groups(), key=lambda key: (order[key[0]], key[1])):
        current = grouped.index((scope, scope_id))
        previous = None if scope == "site" else week_ago.get((scope, scope_id))
        if previous is None:
            then = grouped.week_ago((scope, scope_id))
            previous = then.index if then else None
        change = week_over_week(current.index if current else None, previous)
        name = site_title(scope_id) if scope == "site" else names.get((scope, scope_id), f"#{scope_id}")
        result.append(_scope_index(grouped, (scope, scope_id), name,
                                   round(change.delta, 1) + 0.0 if change.delta is not None else None))  # no "-0.0"
    return result


# --------------------------------------------------------------------------- aspects


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# The aspect table reads what patients said lately, by default the window of the index's trend
# chart; a manager can widen it, as after a first scrape that brought only older reviews.
ASPECT_WINDOWS = {"90": timedelta(days=90), "365": timedelta(days=365), "all": None}
DEFAULT_ASPECT_WINDOW = "90"
# Patients' comments read at a time per aspect and side when looking for example quotes; more pages
# are read while they hold fewer different wordings than there are places (patients repeat words).
QUOTE_CANDIDATES = 30


def aspect_table(since: date | None = None, quotes: int = 3) -> list[dict]:
    """Which aspects drive praise and complaints, over public reviews and patients' comments.

    ``since``: reviews written and comments left on that day or later (all of them without it).
    One row per aspect mentioned: ``aspect``, ``mentions``, ``negative``, ``positive``,
    ``share_negative`` (0..1), ``reviews``/``comments`` counts and up to ``quotes``
    example quotes (complaints first), sorted by the number of complaints.

    Comments are read through ``response_aspects``: counted per aspect in SQL, and only their
    strongest quotes fetched, so a clinic with years of comments is read by index. Public
    reviews, a few thousand at most, are added up here.
    """
    from app.nlp.topics import ASPECTS

    stats: dict[str, dict] = {}

    def row_of(aspect):
        if aspect not in stats:
            stats[aspect] = {"aspect": aspect, "mentions": 0, "negative": 0, "positive": 0,
                             "reviews": 0, "comments": 0, "_complaints": [], "_praise": []}
        return stats[aspect]

    # Candidates sort strongest first, then newest; an excerpt is cut only for those shown.
    def candidate(polarity, day, text, origin):
        return (polarity if polarity < 0 else -polarity, -day.toordinal(), text, origin, day, polarity)

    review_query = select(ExternalReview.topics, ExternalReview.text, _WRITTEN_ON)
    if since is not None:
        review_query = review_query.where(_WRITTEN_ON.element >= since)
    for topics, text, written in db.session.execute(review_query):
        for aspect, polarity in (topics or {}).items():
            row, polarity = row_of(aspect), float(polarity)
            row["mentions"] += 1
            row["reviews"] += 1
            if polarity <= -ASPECT_POLARITY_THRESHOLD:
                row["negative"] += 1
                row["_complaints"].append(candidate(polarity, written, text, "reviews"))
            elif polarity >= ASPECT_POLARITY_THRESHOLD:
                row["positive"] += 1
                row["_praise"].append(candidate(polarity, written, text, "reviews"))

    in_period = [] if since is None else [ResponseAspect.submitted_at >= datetime.combine(since, time(), timezone.utc)]
    negative = ResponseAspect.polarity <= -ASPECT_POLARITY_THRESHOLD
    positive = ResponseAspect.polarity >= ASPECT_POLARITY_THRESHOLD
    counts = db.session.execute(
        select(ResponseAspect.aspect, func.count(), func.count().filter(negative), func.count().filter(positive))
        .where(*in_period).group_by(ResponseAspect.aspect))
    for aspect, mentions, negatives, positives in counts:
        row = row_of(aspect)
        row["mentions"] += mentions
        row["comments"] += mentions
        row["negative"] += negatives
        row["positive"] += positives
    for aspect, row in stats.items():
        for side, strongest, key in ((negative, ResponseAspect.polarity.asc(), "_complaints"),
                                     (positive, ResponseAspect.polarity.desc(), "_praise")):
            if not row["negative" if key == "_complaints" else "positive"]:
                continue
            query = (select(ResponseAspect.polarity, utc_day(ResponseAspect.submitted_at), Response.comment)
                     .join(Response, Response.id == ResponseAspect.response_id)
                     .where(ResponseAspect.aspect == aspect, side, *in_period)
                     .order_by(strongest, ResponseAspect.submitted_at.desc(), ResponseAspect.id.desc()))
            row[key].extend(candidate(polarity, day, text, "comments")
                            for polarity, day, text in _distinct_enough(query, quotes))

    rows = []
    for row in stats.values():
        row["share_negative"] = row["negative"] / row["mentions"] if row["mentions"] else 0.0
        # Complaints first, keeping a place for praise; praise fills the places complaints leave.
        # Patients often write the very same short words: an example is shown once.
        seen: set[str] = set()
        complaints = _distinct(row.pop("_complaints"), max(1, quotes - 1), seen)
        picked = complaints + _distinct(row.pop("_praise"), quotes - len(complaints), seen)
        row["quotes"] = [{"text": text, "polarity": polarity, "origin": origin, "date": day}
                         for _strength, _age, text, origin, day, polarity in picked]
        rows.append(row)
    rank = {aspect: i for i, aspect in enumerate(ASPECTS)}
    rows.sort(key=lambda r: (-r["negative"], -r["mentions"], rank.get(r["aspect"], 99)))
    return rows


def _distinct_enough(query, wanted: int, pages: int = 10) -> list[tuple]:
    """The strongest rows of ``query`` (polarity, day, text), read a page of ``QUOTE_CANDIDATES`` at a
    time until they hold ``wanted`` different texts, the rows run out or ``pages`` were read.

    Many patients write the very same words at the same strength ("Долго ждали."): the first
    page alone could hold a single wording and leave the other places empty.
    """
    rows: list[tuple] = []
    texts: set[str] = set()
    for page in range(pages):
        found = db.session.execute(query.limit(QUOTE_CANDIDATES).offset(page * QUOTE_CANDIDATES)).all()
        rows.extend(found)
        texts.update(_excerpt(text, 200).casefold() for _polarity, _day, text in found)
        if len(found) < QUOTE_CANDIDATES or len(texts) >= wanted:
            break
    return rows


def _distinct(candidates: list[tuple], count: int, seen: set[str]) -> list[tuple]:
    """Up to ``count`` of the strongest candidates whose text (case and spacing aside) is not in ``seen``.

    Each candidate is ``(sort key, sort key, text, ...)``; the text comes back as an excerpt.
    """
    picked = []
    for candidate in sorted(candidates, key=lambda c: (c[0], c[1])):
        if len(picked) == count:
            break
        excerpt = _excerpt(candidate[2], 200)
        key = excerpt.casefold()
        if key not in seen:
            seen.add(key)
            picked.append((candidate[0], candidate[1], excerpt, *candidate[3:]))
    return picked


# --------------------------------------------------------------------------- reviews for other pages


def _review_item(review: ExternalReview) -> dict:
    return {
        "kind": "review",
        "id": review.id,
        "site": review.site,
        "date": review.published_on or review.first_seen_at.date(),
        "first_seen_at": review.first_seen_at,
        "rating": review.rating,
        "label": review.sentiment_label,
        "polarity": review.sentiment_polarity,
        "contradiction": review.contradiction,
        "author": review.author,
        "excerpt": _excerpt(review.text),
        "url": review.url or (review.source.url if review.source else ""),
        "source": (review.source.label or review.source.url) if review.source else "",
        "origin": review.origin,
        # True: the clinic replied; False: the page shows none; None: the page cannot tell.
        "replied": None if review.reply is None else bool(review.reply.strip()),
        "reply_excerpt": _excerpt(review.reply or "", 160),
        "topics": dict(review.topics or {}),
        "branch_id": review.branch_id,
        "doctor_id": review.doctor_id,
    }


# A review first seen lately but written long ago (the history a new source brings on its first
# scrape, an imported backlog) is not news: the journal, the digest and the dashboard's count of
# new negative reviews leave it out. It still counts in the index and is listed under Reputation.
NEWS_MAX_AGE = timedelta(days=30)


def _published_lately(since: datetime):
    return or_(ExternalReview.published_on.is_(None), ExternalReview.published_on >= since.date() - NEWS_MAX_AGE)


def _is_news(published_on: date | None, seen_at: datetime) -> bool:
    """``_published_lately`` for one review in memory."""
    return published_on is None or published_on >= seen_at.date() - NEWS_MAX_AGE


def new_negative_reviews(since: datetime, limit: int | None = None) -> list[dict]:
    """Negative public reviews first seen since ``since`` and written lately (current clinic), newest first.

    Each item: ``site``, ``date``, ``rating``, ``excerpt`` (text excerpt), ``url``, plus
    ``author``, ``contradiction``, ``label`` and ``id``. For the daily digest.
    """
    reviews = db.session.scalars(select(ExternalReview).where(
        ExternalReview.first_seen_at >= since, _published_lately(since), ExternalReview.sentiment_label == NEGATIVE)
        .order_by(ExternalReview.first_seen_at.desc(), ExternalReview.id.desc()).limit(limit))
    return [_review_item(review) for review in reviews]


def journal_review_entries(since: datetime | None = None, until: datetime | None = None, *,
                           negative_only: bool = False, limit: int = 50) -> list[dict]:
    """Public reviews as journal entries of their own kind (``kind == "review"``), newest first seen first.

    Filtered by when they were first seen (``since`` inclusive, ``until`` exclusive; with
    ``since``, only reviews written lately, see ``NEWS_MAX_AGE``), optionally to negative ones.
    Each entry has ``at`` (first seen) for ordering beside patients' responses, and the
    fields of ``new_negative_reviews``.
    """
    query = select(ExternalReview)
    if since is not None:
        query = query.where(ExternalReview.first_seen_at >= since, _published_lately(since))
    if until is not None:
        query = query.where(ExternalReview.first_seen_at < until)
    if negative_only:
        query = query.where(ExternalReview.sentiment_label == NEGATIVE)
    query = query.order_by(ExternalReview.first_seen_at.desc(), ExternalReview.id.desc()).limit(limit)
    entries = []
    for review in db.session.scalars(query):
        item = _review_item(review)
        item["at"] = review.first_seen_at
        entries.append(item)
    return entries


# When a review was written: the site's date, else the day it was first seen (as the index dates it).
_WRITTEN_ON = _written_on().label("written_on")


@dataclass(frozen=True)
class ReviewCursor:
    """Where a page of ``review_list`` ended: the last review's date written and id."""

    day: date
    review_id: int

    def __str__(self) -> str:
        return f"{self.day.isoformat()}_{self.review_id}"

    @classmethod
    def parse(cls, raw: str | None) -> ReviewCursor | None:
        """``"2026-03-12_41"`` back into a cursor; anything else is None (the first page)."""
        day, _sep, review_id = (raw or "").partition("_")
        number = whole_number(review_id)
        try:
            return cls(date.fromisoformat(day), number) if number is not None else None
        except ValueError:
            return None


# The index's scopes below the clinic, by the column that ties a review to one of them.
SCOPE_COLUMNS = {"branch": ExternalReview.branch_id, "doctor": ExternalReview.doctor_id,
                 "source": ExternalReview.source_id}


def review_list(*, negative_only: bool = False, contradictions_only: bool = False, unanswered_only: bool = False,
                limit: int = 50, after: ReviewCursor | None = None, scope: tuple[str, int] | None = None,
                site: str | None = None) -> tuple[list[dict], ReviewCursor | None]:
    """The clinic's public reviews by the date they were written, newest first, a page at a time.

    A first scrape brings years of history at one moment, so the date written, not the
    moment seen, orders the list. ``unanswered_only`` keeps the negative reviews the clinic has
    not replied to, on pages that show replies (a review whose page cannot tell is left out).
    ``scope`` (``("doctor", 7)``, a key of ``SCOPE_COLUMNS``)
    keeps the reviews the index counts for that branch, doctor or source; ``site`` those of one
    site ("2gis.ru"), imported ones included. Returns the page and
    the cursor of the next one (None after the last page); pass it back as ``after``.
    """
    query = select(ExternalReview, _WRITTEN_ON)
    if scope is not None:
        query = query.where(SCOPE_COLUMNS[scope[0]] == scope[1])
    if site:
        query = query.where(ExternalReview.site == site)
    if negative_only:
        query = query.where(ExternalReview.sentiment_label == NEGATIVE)
    if contradictions_only:
        query = query.where(ExternalReview.contradiction.is_(True))
    if unanswered_only:
        query = query.where(ExternalReview.sentiment_label == NEGATIVE, ExternalReview.reply == "")
    if after is not None:
        written = _WRITTEN_ON.element
        query = query.where(or_(written < after.day, (written == after.day) & (ExternalReview.id < after.review_id)))
    query = query.order_by(_WRITTEN_ON.desc(), ExternalReview.id.desc()).limit(limit + 1)
    rows = db.session.execute(query).all()
    entries = [_review_item(review) for review, _written in rows[:limit]]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return entries, (ReviewCursor(last[1], last[0].id) if last else None)


@dataclass(frozen=True)
class IndexDrivers:
    """What pulls an index up and down most, in index points.

    Over all of the scope's reviews the reviews' pulls add up to the index minus the neutral
    50 (``reputation_drivers``); a topic's pull is the same sum over the reviews that mention
    it, taken with the topic's own sentiment. ``reviews_up``/``reviews_down`` pair a review (as
    ``review_list`` gives it) with its pull; the aspects are ``AspectDriver`` rows.
    """

    above_neutral: float
    reviews_up: list[tuple[dict, float]]
    reviews_down: list[tuple[dict, float]]
    aspects_up: tuple[AspectDriver, ...]
    aspects_down: tuple[AspectDriver, ...]


# How many reviews and topics each side of "what moves the index" shows; the clinic's are kept
# with today's snapshot at that length.
DRIVERS_SHOWN = 3


def _live_drivers(scope: tuple[str, int] | None, site: str | None, day: date, top: int) -> ReputationDrivers:
    """``reputation_drivers`` over the reviews of a scope (or a site) written by ``day``."""
    written_on = _written_on()
    query = select(ExternalReview.id, ExternalReview.rating, ExternalReview.sentiment_polarity, written_on,
                   ExternalReview.topics).where(written_on <= day)
    if scope is not None:
        query = query.where(SCOPE_COLUMNS[scope[0]] == scope[1])
    if site:
        query = query.where(ExternalReview.site == site)
    # Topics are stored by the analysis itself, each sentiment within -1..1.
    return reputation_drivers((ReviewSignal(rating, sentiment, float((day - written).days), review_id, topics or {})
                               for review_id, rating, sentiment, written, topics in db.session.execute(query)),
                              top=top)


def _drivers_record(drivers: ReputationDrivers) -> dict:
    """What a snapshot keeps of the drivers: ids and pulls, no text (the reviews are read when shown)."""
    def aspects(items):
        return [[a.aspect, a.impact, a.mentions, a.mean_sentiment] for a in items]

    return {"total": drivers.total,
            "reviews_up": [[d.review_id, d.impact, d.score, d.weight] for d in drivers.reviews_up],
            "reviews_down": [[d.review_id, d.impact, d.score, d.weight] for d in drivers.reviews_down],
            "aspects_up": aspects(drivers.aspects_up), "aspects_down": aspects(drivers.aspects_down)}


def _drivers_from_record(record: dict, top: int) -> ReputationDrivers:
    def reviews(key):
        return tuple(ReviewDriver(review_id, impact, score, weight) for review_id, impact, score, weight in record[key][:top])

    def aspects(key):
        return tuple(AspectDriver(aspect, impact, mentions, mean) for aspect, impact, mentions, mean in record[key][:top])

    return ReputationDrivers(reviews("reviews_up"), reviews("reviews_down"), aspects("aspects_up"),
                             aspects("aspects_down"), total=record["total"])


def index_drivers(*, scope: tuple[str, int] | None = None, site: str | None = None, today: date | None = None,
                  top: int = DRIVERS_SHOWN) -> IndexDrivers | None:
    """The reviews and topics that pull the index of the clinic (or of one branch, doctor or
    source, or one site's reviews) up and down most as of ``today``; None without a review the
    index can count.

    The clinic's as of today are read from today's snapshot when it has them (every change to
    the reviews rewrites it); other days and scopes go over their reviews.
    """
    current = clinic_today()
    today = today or current
    drivers = None
    if scope is None and not site and today == current and top <= DRIVERS_SHOWN:
        record = db.session.scalar(select(ReputationSnapshot.drivers).where(
            ReputationSnapshot.scope == "clinic", ReputationSnapshot.scope_id == 0, ReputationSnapshot.day == today))
        if record:
            drivers = _drivers_from_record(record, top)
    if drivers is None:
        drivers = _live_drivers(scope, site, today, top)
    if not (drivers.reviews_up or drivers.reviews_down):
        return None
    pulls = {driver.review_id: driver.impact for driver in drivers.reviews_up + drivers.reviews_down}
    items = {review.id: _review_item(review)
             for review in db.session.scalars(select(ExternalReview).where(ExternalReview.id.in_(list(pulls))))}
    return IndexDrivers(
        above_neutral=drivers.total,
        reviews_up=[(items[d.review_id], d.impact) for d in drivers.reviews_up if d.review_id in items],
        reviews_down=[(items[d.review_id], d.impact) for d in drivers.reviews_down if d.review_id in items],
        aspects_up=drivers.aspects_up, aspects_down=drivers.aspects_down)


# Complaints older than this are history: the card counts only the recent ones still unanswered.
UNANSWERED_WINDOW = timedelta(days=90)


def dashboard_card(today: date | None = None, overview: list[ScopeIndex] | None = None) -> dict | None:
    """What the dashboard's reputation card shows, or None when the module is not licensed.

    ``index`` (0..100 or None), ``week_delta`` (points or None), ``reviews`` (count),
    ``new_negative_7d``, ``unanswered`` (negative reviews written in the last
    ``UNANSWERED_WINDOW`` that the clinic is known not to have replied to),
    ``broken_sources`` and ``trend`` (last 30 days' values).
    ``overview``, when the caller has ``index_overview(today)`` already, saves reading
    the reviews again.
    """
    if not reputation_licensed():
        return None
    today = today or clinic_today()
    clinic = (overview or index_overview(today, clinic_only=True))[0]
    since = datetime.combine(today - timedelta(days=7), time(), timezone.utc)
    return {
        "index": clinic.index,
        "confidence": clinic.confidence,
        "week_delta": clinic.week_delta,
        "reviews": clinic.reviews,
        "new_negative_7d": db.session.scalar(select(func.count()).select_from(ExternalReview).where(
            ExternalReview.first_seen_at >= since, _published_lately(since),
            ExternalReview.sentiment_label == NEGATIVE)) or 0,
        "unanswered": db.session.scalar(select(func.count()).select_from(ExternalReview).where(
            ExternalReview.sentiment_label == NEGATIVE, ExternalReview.reply == "",
            _WRITTEN_ON.element >= today - UNANSWERED_WINDOW)) or 0,
        "broken_sources": sum(1 for s in list_sources() if s.active and s.is_broken),
        "trend": trend("clinic", 0, 30, today),
    }


# --------------------------------------------------------------------------- nightly fan-out


def period_summary(first_day: date, last_day: date) -> dict | None:
    """The web reputation of a reporting period, for the periodic report; None without the module
    or for a period still to come.

    The index stands as at the period's last day (today for the current period): the
    clinic's, with its change over that last week and since the period before ended, and
    every branch's, doctor's, source's and site's. Then the reviews written in the period
    (how many, how many negative, their mean rating), the daily index over the period and
    what moves the index at the period's end (``index_drivers``).
    """
    if not reputation_licensed() or first_day > clinic_today():
        return None
    end = min(last_day, clinic_today())
    scopes = index_overview(end)
    before = index_overview(first_day - timedelta(days=1), clinic_only=True)[0]
    clinic = scopes[0]
    since_previous = week_over_week(clinic.index, before.index).delta
    written_on = _written_on()
    reviews, negative, mean_rating = db.session.execute(select(
        func.count(), func.count().filter(ExternalReview.sentiment_label == NEGATIVE), func.avg(ExternalReview.rating),
    ).where(written_on >= first_day, written_on <= last_day)).one()
    return {
        "as_of": end, "clinic": clinic, "scopes": scopes[1:], "previous": before.index,
        "since_previous": round(since_previous, 1) + 0.0 if since_previous is not None else None,
        "reviews": reviews, "negative": negative,
        "mean_rating": round(float(mean_rating), 2) if mean_rating is not None else None,
        "trend": trend("clinic", 0, (end - first_day).days + 1, end) if end >= first_day else [],
        "drivers": index_drivers(today=end),
    }


def scorecard_indexes(as_of: date) -> dict[tuple[str, str], ScopeIndex]:
    """Each doctor's and branch's index as of a day, keyed like the scorecards' rows (kind, id as text).

    The figures of ``index_overview(as_of)`` for those scopes, from the reviews about a doctor or
    a branch alone and without the week's change: what a scorecard shows, at a fraction of the cost.
    """
    grouped = _grouped_index(_review_rows(until=as_of, about_branch_or_doctor=True), as_of,
                             kinds=frozenset({"branch", "doctor"}))
    return {(scope, str(scope_id)): _scope_index(grouped, (scope, scope_id), "", None)
            for scope, scope_id in grouped.groups()}


def nightly_fan_out(now: datetime | None = None) -> list[int]:
    """Start a nightly scrape run in every clinic that has the module and is not suspended.

    Runs in ``platform_scope`` to list the clinics; each run is created inside its
    clinic's scope with a job id naming the clinic and its local date, so a second
    call the same night starts nothing. Commits; returns the clinics' ids.
    """
    from zoneinfo import ZoneInfo

    from jobs.outbox import flush_outbox
    from jobs.queues import make_job_id
    from tenants.context import platform_scope, tenant_scope
    from tenants.licensing import LicenceState, licence_status

    now = now or utcnow()
    with platform_scope():
        clinics = db.session.execute(select(Tenant.id, Tenant.timezone, Licence).join(
            Licence, Licence.tenant_id == Tenant.id).order_by(Tenant.id)).all()
        candidates = []
        for tenant_id, tz, licence in clinics:
            local_day = now.astimezone(ZoneInfo(tz)).date()
            state = licence_status(licence, local_day, current_app.config["LICENCE_GRACE_DAYS"]).state
            if state == LicenceState.SUSPENDED or not has_module(licence, MODULE):
                continue
            candidates.append((tenant_id, local_day))
        db.session.commit()
    started, job_ids = [], []
    for tenant_id, local_day in candidates:
        job_id = make_job_id(tenant_id, "scrape-nightly", local_day.isoformat())
        with tenant_scope(tenant_id):
            if db.session.scalar(select(PendingJob.id).where(PendingJob.job_id == job_id)) is not None:
                db.session.rollback()
                continue
            try:
                run = start_scrape_run("nightly", job_id=job_id)
                db.session.commit()
            except IntegrityError:  # another dispatcher got there first
                db.session.rollback()
                continue
            if run.job_id == job_id:
                started.append(tenant_id)
                job_ids.append(job_id)
    if job_ids:
        flush_outbox(job_ids)
    return started
