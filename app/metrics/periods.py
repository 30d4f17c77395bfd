"""Reporting periods in the clinic's local calendar.

A ``Period`` is a half-open range of local calendar days ``[start, end)``:
a month (``2025-03``), a quarter (``2025-Q1``), a year (``2025``) or a custom
range (``2025-03-05..2025-04-04``, both days inclusive in the text form).

Periods are defined on the clinic's calendar, not on UTC: "March" for a
clinic in Vladivostok starts ten hours before "March" for one in Kaliningrad.
``bounds_utc(tz_name)`` converts the local midnights that open and close the
period into UTC instants using the IANA time-zone database (``zoneinfo``),
so SQL can filter ``start_utc <= visited_at < end_utc``. Because each bound
is converted on its own date, a period that contains a daylight-saving
switch or a permanent change of the zone's offset (Moscow moved from UTC+3
to UTC+4 on 27 March 2011 and back to UTC+3 on 26 October 2014) has the
right number of hours: e.g. 743 for March 2011 in Europe/Moscow, 745 for
October 2014.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class PeriodKind(StrEnum):
    """Kinds of reporting period."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    CUSTOM = "custom"


_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER_RE = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR_RE = re.compile(r"^(\d{4})$")
_CUSTOM_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _shift_years(day: date, years: int) -> date:
    # 29 February has no twin in a common year; use 28 February.
    year = day.year + years
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def zone(tz_name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name such as ``Europe/Moscow``; ``ValueError`` if unknown."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {tz_name!r}") from error


@dataclass(frozen=True, order=True)
class Period:
    """Local calendar days ``start <= day < end`` of one reporting period."""

    start: date
    end: date
    kind: PeriodKind = PeriodKind.CUSTOM

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PeriodKind(self.kind))
        if not self.start < self.end:
            raise ValueError("a period must contain at least one day")
        expected = {
            PeriodKind.MONTH: lambda: Period.month(self.start.year, self.start.month),
            PeriodKind.QUARTER: lambda: Period.quarter(
                self.start.year, (self.start.month - 1) // 3 + 1
            ),
            PeriodKind.YEAR: lambda: Period.year(self.start.year),
        }.get(self.kind)
        if expected is not None:
            aligned = expected()
            if (aligned.start, aligned.end) != (self.start, self.end):
                raise ValueError(f"{self.start}..{self.end} is not a calendar {self.kind}")

    # Constructors -----------------------------------------------------

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        """The calendar month ``YYYY-MM``."""
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1..12, got {month}")
        next_year, next_month = _add_months(year, month, 1)
        return cls._aligned(date(year, month, 1), date(next_year, next_month, 1), PeriodKind.MONTH)

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        """The calendar quarter ``YYYY-Qn`` (Q1 = January..March)."""
        if not 1 <= quarter <= 4:
            raise ValueError(f"quarter must be 1..4, got {quarter}")
        first_month = 3 * (quarter - 1) + 1
        next_year, next_month = _add_months(year, first_month, 3)
        return cls._aligned(
            date(year, first_month, 1), date(next_year, next_month, 1), PeriodKind.QUARTER
        )

    @classmethod
    def year(cls, year: int) -> Period:
        """The calendar year ``YYYY``."""
        return cls._aligned(date(year, 1, 1), date(year + 1, 1, 1), PeriodKind.YEAR)

    @classmethod
    def custom(cls, first_day: date, last_day: date) -> Period:
        """A custom range of local days, both ``first_day`` and ``last_day`` included."""
        if last_day < first_day:
            raise ValueError("last_day is before first_day")
        if last_day >= date.max:
            raise ValueError("last_day is the calendar's last: no day follows it")
        return cls(first_day, last_day + timedelta(days=1), PeriodKind.CUSTOM)

    @classmethod
    def containing(cls, day: date, kind: PeriodKind | str) -> Period:
        """The month, quarter or year that contains the local date ``day``."""
        kind = PeriodKind(kind)
        if kind is PeriodKind.MONTH:
            return cls.month(day.year, day.month)
        if kind is PeriodKind.QUARTER:
            return cls.quarter(day.year, (day.month - 1) // 3 + 1)
        if kind is PeriodKind.YEAR:
            return cls.year(day.year)
        raise ValueError("a custom period cannot be derived from a single date")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``YYYY-MM``, ``YYYY-Qn``, ``YYYY`` or ``YYYY-MM-DD..YYYY-MM-DD``."""
        text = text.strip()
        if match := _MONTH_RE.match(text):
            return cls.month(int(match[1]), int(match[2]))
        if match := _QUARTER_RE.match(text):
            return cls.quarter(int(match[1]), int(match[2]))
        if match := _YEAR_RE.match(text):
            return cls.year(int(match[1]))
        if match := _CUSTOM_RE.match(text):
            return cls.custom(date.fromisoformat(match[1]), date.fromisoformat(match[2]))
        raise ValueError(f"not a period: {text!r}")

    @classmethod
    def _aligned(cls, start: date, end: date, kind: PeriodKind) -> Period:
        # Skip __post_init__'s alignment check: the constructors build aligned
        # periods by definition (and the check itself calls them).
        period = object.__new__(cls)
        object.__setattr__(period, "start", start)
        object.__setattr__(period, "end", end)
        object.__setattr__(period, "kind", kind)
        return period

    # Properties -------------------------------------------------------

    @property
    def last_day(self) -> date:
        """The last local day included in the period."""
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        """Number of calendar days."""
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        """Canonical text form, accepted back by ``parse``."""
        if self.kind is PeriodKind.MONTH:
            return f"{self.start.year:04d}-{self.start.month:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind is PeriodKind.YEAR:
            return f"{self.start.year:04d}"
        return f"{self.start.isoformat()}..{self.last_day.isoformat()}"

    def __str__(self) -> str:
        return self.label

    def __contains__(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError("use the local date, or bounds_utc() for instants")
        return self.start <= day < self.end

    # Navigation -------------------------------------------------------

    def previous(self) -> Period:
        """The period of the same kind just before this one.

        For a custom range: the same number of days ending the day before.
        """
        if self.kind is PeriodKind.MONTH:
            return Period.month(*_add_months(self.start.year, self.start.month, -1))
        if self.kind is PeriodKind.QUARTER:
            year, month = _add_months(self.start.year, self.start.month, -3)
            return Period.quarter(year, (month - 1) // 3 + 1)
        if self.kind is PeriodKind.YEAR:
            return Period.year(self.start.year - 1)
        return Period(self.start - timedelta(days=self.days), self.start, PeriodKind.CUSTOM)

    def next(self) -> Period:
        """The period of the same kind just after this one."""
        if self.kind is PeriodKind.CUSTOM:
            return Period(self.end, self.end + timedelta(days=self.days), PeriodKind.CUSTOM)
        return Period.containing(self.end, self.kind)

    def same_period_last_year(self) -> Period:
        """The same month/quarter/year one year earlier.

        A custom range moves both its first and last day back a year;
        29 February becomes 28 February.
        """
        if self.kind is PeriodKind.CUSTOM:
            return Period.custom(_shift_years(self.start, -1), _shift_years(self.last_day, -1))
        return Period.containing(_shift_years(self.start, -1), self.kind)

    # Time zones -------------------------------------------------------

    def bounds_utc(self, tz_name: str) -> tuple[datetime, datetime]:
        """``(start_utc, end_utc)``: the local midnights opening and closing the period, in UTC.

        Half-open: an instant belongs to the period when
        ``start_utc <= instant < end_utc``. Each midnight is resolved with
        the offset in force on its own date, so DST switches and offset
        changes inside the period are accounted for. Where a zone skips
        midnight itself (clocks jump 00:00 -> 01:00), ``fold=0`` maps it to
        the instant of the jump, which is when the local day begins.
        """
        tz = zone(tz_name)

        def local_midnight(day: date) -> datetime:
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)

        return local_midnight(self.start), local_midnight(self.end)

    def hours(self, tz_name: str) -> float:
        """Elapsed hours of the period in ``tz_name``.

        744 for a 31-day month without a clock change, 743 with a spring-forward.
        """
        start, end = self.bounds_utc(tz_name)
        return (end - start).total_seconds() / 3600.0


# Reports cover at most five years, from 1990 to 2999: the data starts there (visit imports
# refuse earlier dates), and a comparison with the year before or a trend running on past the
# period must stay inside the calendar, which ends in 9999.
EARLIEST_REPORT_YEAR = 1990
LATEST_REPORT_YEAR = 2999
LONGEST_REPORT_DAYS = 366 * 5


def reportable(period: Period) -> bool:
    """Whether ``period`` may be asked for on the dashboard or through the API."""
    return (period.days <= LONGEST_REPORT_DAYS and period.start.year >= EARLIEST_REPORT_YEAR
            and period.last_day.year <= LATEST_REPORT_YEAR)


def parse_period(text: str) -> Period:
    """Parse ``YYYY-MM``, ``YYYY-Qn``, ``YYYY`` or ``YYYY-MM-DD..YYYY-MM-DD``."""
    return Period.parse(text)


def local_date(instant: datetime, tz_name: str) -> date:
    """The clinic-local calendar date of an aware instant (naive datetimes are rejected)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(zone(tz_name)).date()


def period_of(instant: datetime, tz_name: str, kind: PeriodKind | str) -> Period:
    """The month/quarter/year containing ``instant`` in the clinic's local calendar."""
    return Period.containing(local_date(instant, tz_name), kind)
