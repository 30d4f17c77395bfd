"""Reporting periods: parsing, navigation and UTC bounds in the clinic's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.metrics.periods import Period, PeriodKind, local_date, parse_period, period_of


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- parsing and labels ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("2025-03", PeriodKind.MONTH, date(2025, 3, 1), date(2025, 4, 1)),
        ("2025-12", PeriodKind.MONTH, date(2025, 12, 1), date(2026, 1, 1)),
        ("2025-Q1", PeriodKind.QUARTER, date(2025, 1, 1), date(2025, 4, 1)),
        ("2025-q4", PeriodKind.QUARTER, date(2025, 10, 1), date(2026, 1, 1)),
        ("2024", PeriodKind.YEAR, date(2024, 1, 1), date(2025, 1, 1)),
        ("2025-03-05..2025-04-04", PeriodKind.CUSTOM, date(2025, 3, 5), date(2025, 4, 5)),
        (" 2025-03-05 .. 2025-03-05 ", PeriodKind.CUSTOM, date(2025, 3, 5), date(2025, 3, 6)),
    ],
)
def test_parse(text, kind, start, end):
    period = parse_period(text)
    assert (period.kind, period.start, period.end) == (kind, start, end)
    # the canonical label parses back to the same period
    assert Period.parse(period.label) == period


def test_labels():
    assert str(Period.month(2025, 3)) == "2025-03"
    assert Period.quarter(2025, 2).label == "2025-Q2"
    assert Period.year(2025).label == "2025"
    assert Period.custom(date(2025, 3, 5), date(2025, 4, 4)).label == "2025-03-05..2025-04-04"


@pytest.mark.parametrize(
    "text", ["2025-13", "2025-Q5", "25-03", "2025/03", "2025-03-10..2025-03-01", "", "March"]
)
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        parse_period(text)


def test_kinds_must_be_aligned():
    with pytest.raises(ValueError):
        Period(date(2025, 3, 2), date(2025, 4, 1), PeriodKind.MONTH)
    with pytest.raises(ValueError):
        Period(date(2025, 3, 1), date(2025, 3, 1))  # empty
    assert Period(date(2025, 3, 1), date(2025, 4, 1), "month") == Period.month(2025, 3)


def test_days_last_day_and_membership():
    feb = Period.parse("2024-02")
    assert feb.days == 29  # leap year
    assert feb.last_day == date(2024, 2, 29)
    assert date(2024, 2, 29) in feb
    assert date(2024, 3, 1) not in feb
    assert Period.parse("2025").days == 365
    with pytest.raises(TypeError):
        datetime(2024, 2, 10, tzinfo=UTC) in feb  # instants need bounds_utc()


# --- navigation ----------------------------------------------------------------


def test_previous():
    assert Period.parse("2025-01").previous() == Period.parse("2024-12")
    assert Period.parse("2025-Q1").previous() == Period.parse("2024-Q4")
    assert Period.parse("2025-Q3").previous() == Period.parse("2025-Q2")
    assert Period.parse("2025").previous() == Period.parse("2024")
    # custom: same length (10 days), ending the day before
    custom = Period.parse("2025-03-11..2025-03-20")
    assert custom.previous() == Period.parse("2025-03-01..2025-03-10")


def test_next():
    assert Period.parse("2024-12").next() == Period.parse("2025-01")
    assert Period.parse("2025-Q4").next() == Period.parse("2026-Q1")
    assert Period.parse("2025-03-01..2025-03-10").next() == Period.parse("2025-03-11..2025-03-20")


def test_same_period_last_year():
    assert Period.parse("2025-03").same_period_last_year() == Period.parse("2024-03")
    assert Period.parse("2025-Q2").same_period_last_year() == Period.parse("2024-Q2")
    assert Period.parse("2025").same_period_last_year() == Period.parse("2024")
    assert Period.parse("2024-02").same_period_last_year().days == 28
    # custom range ending on 29 February ends on 28 February a year earlier
    leap = Period.parse("2024-02-10..2024-02-29")
    assert leap.same_period_last_year() == Period.parse("2023-02-10..2023-02-28")


def test_containing_and_period_of_instant():
    assert Period.containing(date(2025, 5, 17), "quarter") == Period.parse("2025-Q2")
    with pytest.raises(ValueError):
        Period.containing(date(2025, 5, 17), PeriodKind.CUSTOM)
    # 31 March 22:30 UTC is already 1 April 01:30 in Moscow (UTC+3)
    instant = utc(2025, 3, 31, 22, 30)
    assert local_date(instant, "Europe/Moscow") == date(2025, 4, 1)
    assert period_of(instant, "Europe/Moscow", "month") == Period.parse("2025-04")
    assert period_of(instant, "Europe/London", "month") == Period.parse("2025-03")
    with pytest.raises(ValueError):
        local_date(datetime(2025, 3, 31, 22, 30), "Europe/Moscow")  # naive


# --- UTC bounds from the local calendar --------------------------------------


def test_bounds_fixed_offset_zone():
    # Moscow has been UTC+3 all year since 26 October 2014.
    start, end = Period.parse("2025-03").bounds_utc("Europe/Moscow")
    assert start == utc(2025, 2, 28, 21)  # 1 March 00:00 MSK
    assert end == utc(2025, 3, 31, 21)  # 1 April 00:00 MSK
    assert start.tzinfo is UTC
    assert Period.parse("2025-03").hours("Europe/Moscow") == 31 * 24 == 744


def test_month_with_spring_forward_has_743_hours():
    # Europe/Moscow, March 2011: on 27 March clocks went from UTC+3 to UTC+4
    # and never came back. 1 March 00:00 MSK = 28 Feb 21:00 UTC (UTC+3);
    # 1 April 00:00 MSK = 31 March 20:00 UTC (UTC+4). 31 * 24 - 1 = 743 h.
    march_2011 = Period.parse("2011-03")
    assert march_2011.bounds_utc("Europe/Moscow") == (utc(2011, 2, 28, 21), utc(2011, 3, 31, 20))
    assert march_2011.hours("Europe/Moscow") == 31 * 24 - 1 == 743
    # US daylight saving: 10 March 2024, New York EST (UTC-5) -> EDT (UTC-4).
    march_2024 = Period.parse("2024-03")
    assert march_2024.bounds_utc("America/New_York") == (utc(2024, 3, 1, 5), utc(2024, 4, 1, 4))
    assert march_2024.hours("America/New_York") == 743


def test_month_with_offset_change_back_has_745_hours():
    # Europe/Moscow, October 2014: on 26 October the zone moved from UTC+4
    # to UTC+3 permanently. 1 Oct 00:00 = 30 Sep 20:00 UTC (UTC+4);
    # 1 Nov 00:00 = 31 Oct 21:00 UTC (UTC+3). 31 * 24 + 1 = 745 h.
    october_2014 = Period.parse("2014-10")
    assert october_2014.bounds_utc("Europe/Moscow") == (
        utc(2014, 9, 30, 20),
        utc(2014, 10, 31, 21),
    )
    assert october_2014.hours("Europe/Moscow") == 745
    # November 2024 in New York (fall back on 3 November): 30 * 24 + 1 = 721 h.
    assert Period.parse("2024-11").hours("America/New_York") == 721


def test_year_and_quarter_across_dst():
    # A year contains both switches, which cancel out: 2024 is a leap year,
    # so 366 * 24 = 8784 hours in New York.
    assert Period.parse("2024").hours("America/New_York") == 366 * 24
    # Q1 2024 in New York: 91 days, minus the spring-forward hour.
    assert Period.parse("2024-Q1").hours("America/New_York") == 91 * 24 - 1


def test_day_where_midnight_does_not_exist():
    # Havana springs forward at midnight: 12 March 2023 00:00 -> 01:00.
    # The local day starts at the jump, 05:00 UTC (00:00 at the old UTC-5),
    # and lasts 23 hours.
    day = Period.custom(date(2023, 3, 12), date(2023, 3, 12))
    start, end = day.bounds_utc("America/Havana")
    assert start == utc(2023, 3, 12, 5)
    assert end == utc(2023, 3, 13, 4)
    assert day.hours("America/Havana") == 23


def test_consecutive_periods_tile_without_gaps():
    tz = "Europe/Moscow"
    period = Period.parse("2010-01")
    for _ in range(72):  # six years across the 2011 and 2014 changes
        following = period.next()
        assert period.bounds_utc(tz)[1] == following.bounds_utc(tz)[0]
        period = following


def test_unknown_time_zone():
    with pytest.raises(ValueError):
        Period.parse("2025-03").bounds_utc("Mars/Olympus_Mons")
