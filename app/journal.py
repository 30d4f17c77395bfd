"""The review journal: filters as data, the query they make, keyset pages and live catch-up.

Filters come from the URL (so a view can be bookmarked and shared) and are
validated here: a bad value is a ``FilterError`` the view turns into a 400.
Pages are keyset pages on ``(submitted_at, id)`` descending, so page 1,000 of a
million responses costs what page 1 costs (index ``ix_responses_tenant_submitted``
and the per-filter indexes in app.models.cases).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Case, Response, utcnow
from app.parsing import whole_number

PERIODS = ("today", "7d", "30d", "90d", "custom")
# Dates a journal filter accepts: any a clinic has answers for, with room for the day after.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)
RISKS = ("ok", "at_risk", "critical", "flagged")  # flagged: at risk or critical, as the overviews count them
CASE_FILTERS = ("none", "any", "open", "overdue", "new", "in_progress", "waiting", "resolved")
NPS_BANDS = ("promoter", "passive", "detractor", "none")
PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
# Live catch-up also re-sends what arrived in the last seconds: a transaction that took a lower id
# may commit after a higher one, and the page drops entries it already shows.
LIVE_LOOKBACK = timedelta(seconds=5)
# Entries whose case changed this recently come back with the live updates, so open
# journals redraw their status; a page offline for longer shows it on reload.
CASE_CHANGE_LOOKBACK = timedelta(minutes=2)


class FilterError(ValueError):
    """A filter value the journal does not understand."""


@dataclass(frozen=True)
class JournalFilters:
    """What the manager asked to see. Empty/None means "no filter"."""

    period: str = ""
    date_from: date | None = None
    date_to: date | None = None
    branch: int | None = None
    doctor: int | None = None
    point: int | None = None
    risk: str = ""
    case: str = ""
    nps: str = ""
    comment: str = ""  # "" | yes | no
    q: str = ""

    def to_args(self) -> dict[str, str]:
        """URL query arguments for these filters (only the ones set), for links and bookmarks."""
        args = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ""):
                args[f.name] = value.isoformat() if isinstance(value, date) else str(value)
        return args

    @property
    def active(self) -> bool:
        return bool(self.to_args())


def _int(args, name: str) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    value = whole_number(raw)
    if value is None:
        raise FilterError(_l("%(name)s must be a number", name=name))
    return value


def _choice(args, name: str, allowed: tuple[str, ...]) -> str:
    raw = (args.get(name) or "").strip()
    if raw and raw not in allowed:
        raise FilterError(_l("%(name)s must be one of: %(allowed)s", name=name, allowed=", ".join(allowed)))
    return raw


def _date(args, name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise FilterError(_l("%(name)s must be a date (YYYY-MM-DD)", name=name)) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:  # the day after 9999-12-31 does not exist
        raise FilterError(_l("%(name)s must be a date (YYYY-MM-DD)", name=name))
    return day


def parse_filters(args) -> JournalFilters:
    """Journal filters from URL arguments; raises FilterError for values it cannot read."""
    date_from, date_to = _date(args, "date_from"), _date(args, "date_to")
    period = _choice(args, "period", PERIODS)
    if (date_from or date_to) and not period:
        period = "custom"
    if date_from and date_to and date_from > date_to:
        raise FilterError(_l("The first day is after the last."))
    q = (args.get("q") or "").strip()
    if len(q) > 200:
        raise FilterError(_l("The search text is too long."))
    return JournalFilters(
        period=period, date_from=date_from if period == "custom" else None,
        date_to=date_to if period == "custom" else None,
        branch=_int(args, "branch"), doctor=_int(args, "doctor"), point=_int(args, "point"),
        risk=_choice(args, "risk", RISKS), case=_choice(args, "case", CASE_FILTERS),
        nps=_choice(args, "nps", NPS_BANDS), comment=_choice(args, "comment", ("yes", "no")), q=q)


def period_bounds(filters: JournalFilters, tz: str, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """The UTC [start, end) the period covers, days counted in the clinic's time zone."""
    zone = ZoneInfo(tz)
    now = now or utcnow()
    today = now.astimezone(zone).date()

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=zone).astimezone(timezone.utc)

    if filters.period == "today":
        return midnight(today), None
    if filters.period in ("7d", "30d", "90d"):
        days = int(filters.period[:-1])
        return midnight(today - timedelta(days=days - 1)), None
    if filters.period == "custom":
        start = midnight(filters.date_from) if filters.date_from else None
        end = midnight(filters.date_to + timedelta(days=1)) if filters.date_to else None
        return start, end
    return None, None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered_query(filters: JournalFilters, tz: str, now: datetime | None = None):
    """``select(Response)`` of the current clinic narrowed by ``filters`` (no order, no limit)."""
    now = now or utcnow()
    query = select(Response)
    start, end = period_bounds(filters, tz, now)
    if start is not None:
        query = query.where(Response.submitted_at >= start)
    if end is not None:
        query = query.where(Response.submitted_at < end)
    if filters.branch is not None:
        query = query.where(Response.branch_id == filters.branch)
    if filters.doctor is not None:
        query = query.where(Response.doctor_id == filters.doctor)
    if filters.point is not None:
        query = query.where(Response.collection_point_id == filters.point)
    if filters.risk == "flagged":
        query = query.where(Response.risk_level.in_(("at_risk", "critical")))
    elif filters.risk:
        query = query.where(Response.risk_level == filters.risk)
    if filters.nps == "promoter":
        query = query.where(Response.nps >= 9)
    elif filters.nps == "passive":
        query = query.where(Response.nps.between(7, 8))
    elif filters.nps == "detractor":
        query = query.where(Response.nps <= 6)
    elif filters.nps == "none":
        query = query.where(Response.nps.is_(None))
    if filters.comment == "yes":
        query = query.where(Response.comment != "")
    elif filters.comment == "no":
        query = query.where(Response.comment == "")
    if filters.q:
        query = query.where(func.lower(Response.comment).like(_like_pattern(filters.q.lower()), escape="\\"))
    if filters.case:
        has_case = exists().where(Case.response_id == Response.id)
        if filters.case == "none":
            query = query.where(~has_case)
        elif filters.case == "any":
            query = query.where(has_case)
        elif filters.case == "open":
            query = query.where(exists().where(Case.response_id == Response.id, Case.status != "resolved"))
        elif filters.case == "overdue":
            query = query.where(exists().where(Case.response_id == Response.id, Case.status != "resolved",
                                               Case.deadline_at < now))
        else:
            query = query.where(exists().where(Case.response_id == Response.id, Case.status == filters.case))
    return query


def encode_cursor(response: Response) -> str:
    """The keyset position after ``response``: microseconds since the epoch and the id."""
    ts = response.submitted_at.astimezone(timezone.utc)
    micros = (ts - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    return f"{micros}_{response.id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of encode_cursor; raises FilterError for anything else."""
    try:
        micros, raw_id = cursor.split("_", 1)
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(micros))
    except (ValueError, OverflowError):
        raise FilterError(_l("bad page position")) from None
    response_id = whole_number(raw_id)  # an id the database's integer column can hold
    if response_id is None:
        raise FilterError(_l("bad page position"))
    return moment, response_id


def _with_entry_data(query):
    # The journal shows point, branch, doctor, ratings and case of every entry: load them in a few queries.
    return query.options(selectinload(Response.collection_point), selectinload(Response.branch),
                         selectinload(Response.doctor), selectinload(Response.ratings),
                         selectinload(Response.case))


@dataclass
class JournalPage:
    entries: list[Response]
    next_cursor: str | None
    newest_id: int


def journal_page(filters: JournalFilters, tz: str, cursor: str | None = None, limit: int = PAGE_SIZE,
                 now: datetime | None = None) -> JournalPage:
    """One page of the journal, newest first, after ``cursor`` (None: the first page)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = filtered_query(filters, tz, now)
    if cursor:
        moment, last_id = decode_cursor(cursor)
        # The plain bound on submitted_at gives the index a range to start from; the OR breaks ties by id.
        query = query.where(Response.submitted_at <= moment,
                            or_(Response.submitted_at < moment, Response.id < last_id))
    query = _with_entry_data(query.order_by(Response.submitted_at.desc(), Response.id.desc()).limit(limit + 1))
    rows = list(db.session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return JournalPage(rows, encode_cursor(rows[-1]) if more and rows else None, newest_response_id())


def newest_response_id() -> int:
    """The highest response id in the current clinic (0 for none): where live catch-up starts."""
    return db.session.scalar(select(func.max(Response.id))) or 0


def has_newer(after_id: int) -> bool:
    """Whether the clinic has a response with an id above ``after_id`` (the cheap check without Redis)."""
    return db.session.scalar(select(Response.id).where(Response.id > after_id).limit(1)) is not None


def entries_after(filters: JournalFilters, tz: str, after_id: int, now: datetime | None = None,
                  limit: int = MAX_PAGE_SIZE) -> list[Response]:
    """Responses newer than ``after_id`` matching ``filters``, newest first, for live catch-up.

    Also returns the last LIVE_LOOKBACK's entries (the page drops those it shows)
    so a response whose transaction committed late is not skipped, and entries
    whose case changed within CASE_CHANGE_LOOKBACK (the page redraws those it
    shows when their version differs).
    """
    now = now or utcnow()
    recently_changed = select(Case.response_id).where(Case.updated_at >= now - CASE_CHANGE_LOOKBACK)
    query = filtered_query(filters, tz, now).where(
        or_(Response.id > after_id, and_(Response.submitted_at >= now - LIVE_LOOKBACK, Response.id <= after_id),
            Response.id.in_(recently_changed)))
    query = _with_entry_data(query.order_by(Response.submitted_at.desc(), Response.id.desc()).limit(limit))
    return list(db.session.scalars(query))


def without_cursor(filters: JournalFilters, **changes) -> JournalFilters:
    """A copy of ``filters`` with some fields changed (for filter links)."""
    return replace(filters, **changes)
