"""Turning the dates review sites show into absolute ISO dates (``YYYY-MM-DD``).

Sites show dates in many ways: ISO timestamps in markup, "7 апреля в 14:08" (this year's
reviews carry no year), "26 сентября 2025 в 12:47", "вчера", "Submitted March 4, 2018",
"4/16/2016", "16 avril 2018", "a week ago". Everything relative is resolved against a
reference date (``today``) so results are reproducible in tests and in re-runs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

# Full month names in every form the supported sites use, mapped to month numbers.
_MONTH_WORDS: dict[str, int] = {}


def _add_months(names: str) -> None:
    for number, forms in enumerate(names.split(";"), start=1):
        for form in forms.split():
            _MONTH_WORDS[form] = number


# English: full names and abbreviations.
_add_months(
    "january jan;february feb;march mar;april apr;may;june jun;july jul;"
    "august aug;september sep sept;october oct;november nov;december dec"
)
# French: full names (with and without accents) and the usual abbreviations.
_add_months(
    "janvier janv;février fevrier févr fevr fév fev;mars;avril avr;mai;juin;"
    "juillet juil;août aout aoû;septembre;octobre;novembre;décembre decembre déc"
)
# Russian: nominative, genitive ("7 апреля") and prepositional ("в марте"), plus abbreviations.
_add_months(
    "январь января январе янв;февраль февраля феврале фев февр;март марта марте мар;"
    "апрель апреля апреле апр;май мая мае;июнь июня июне июн;июль июля июле июл;"
    "август августа августе авг;сентябрь сентября сентябре сен сент;"
    "октябрь октября октябре окт;ноябрь ноября ноябре ноя нояб;декабрь декабря декабре дек"
)

_MONTH_ALTERNATION = "|".join(sorted((re.escape(w) for w in _MONTH_WORDS), key=len, reverse=True))
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DAY_MONTH = re.compile(
    rf"(?<![\w])(\d{{1,2}})(?:er|st|nd|rd|th)?\.?\s+({_MONTH_ALTERNATION})\.?(?![\w])(?:,?\s*(\d{{4}}))?"
)
_MONTH_DAY = re.compile(
    rf"(?<![\w])({_MONTH_ALTERNATION})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s*(\d{{4}}))?"
)
_NUMERIC = re.compile(r"(?<!\d)(\d{1,4})([./-])(\d{1,2})\2(\d{2,4})(?!\d)")

_SAME_DAY_WORDS = ("сегодня", "today", "aujourd'hui", "aujourd’hui", "just now", "только что")
_DAY_BEFORE_YESTERDAY_WORDS = ("позавчера", "avant-hier")
_YESTERDAY_WORDS = ("вчера", "yesterday", "hier")

# "<n> <unit> ago" in English, Russian and French; a missing or spelled-out n means one.
_ONE_WORDS = {"a": 1, "an": 1, "one": 1, "un": 1, "une": 1, "один": 1, "одна": 1, "одну": 1}
_AGO_EN = re.compile(r"(\d+|an?|one)\s+(minute|hour|day|week|month|year)s?\s+ago")
_AGO_RU = re.compile(
    r"(?:(\d+|один|одна|одну)\s+)?(минут\w*|час\w*|день|дня|дней|недел\w*|месяц\w*|год|года|лет)\s+назад"
)
# "Half a year ago", "a year and a half ago", "a month and a half ago", "half an hour ago".
_HALVES_RU = (("полгода", 6, "month"), (r"полтора\s+года", 18, "month"), (r"полтора\s+месяца", 6, "week"),
              ("полчаса", 1, "moment"))
_AGO_FR = re.compile(r"il y a\s+(\d+|une?)\s+(minute|heure|jour|semaine|mois|an|année|annee)s?")

_UNIT_NAMES = {
    # Minutes and hours ago are today: a review's date has no time of day.
    "minute": "moment", "hour": "moment", "day": "day", "week": "week", "month": "month", "year": "year",
    "heure": "moment", "jour": "day", "semaine": "week", "mois": "month", "an": "year",
    "année": "year", "annee": "year",
}


def _russian_unit(word: str) -> str:
    if word.startswith(("минут", "час")):
        return "moment"
    if word.startswith(("ден", "дн", "день", "дня", "дней")):
        return "day"
    if word.startswith("недел"):
        return "week"
    if word.startswith("месяц"):
        return "month"
    return "year"


def _shift_months(day: date, months: int) -> date:
    """``day`` moved back by ``months`` calendar months, clamped to the month's last day."""
    month_index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    for last_day in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last_day))
        except ValueError:
            continue
    return date(year, month, 28)


_MAX_AGO_YEARS = 100  # "300 years ago" is no date a review can have: no date rather than an overflow
_UNIT_YEARS = {"moment": 0, "day": 1 / 365, "week": 7 / 365, "month": 1 / 12, "year": 1}


def _ago(today: date, amount: int, unit: str) -> date | None:
    if amount * _UNIT_YEARS[unit] > _MAX_AGO_YEARS:
        return None
    if unit == "moment":
        return today
    if unit == "day":
        return today - timedelta(days=amount) if amount >= 1 else today
    if unit == "week":
        return today - timedelta(weeks=amount)
    if unit == "month":
        return _shift_months(today, amount)
    return _shift_months(today, 12 * amount)


def _amount(token: str | None) -> int:
    if not token:
        return 1
    if token.isdecimal():
        return int(token)
    return _ONE_WORDS.get(token, 1)


def _relative(text: str, today: date) -> date | None:
    """Resolve "вчера", "yesterday", "a week ago", "3 дня назад", "il y a 2 jours"."""
    match = _AGO_EN.search(text)
    if match:
        return _ago(today, _amount(match.group(1)), _UNIT_NAMES[match.group(2)])
    match = _AGO_FR.search(text)
    if match:
        return _ago(today, _amount(match.group(1)), _UNIT_NAMES[match.group(2)])
    for words, amount, unit in _HALVES_RU:  # before the pattern, which reads "полгода" as "год"
        if re.search(rf"(?<!\w){words}\s+назад", text):
            return _ago(today, amount, unit)
    match = _AGO_RU.search(text)
    if match:
        return _ago(today, _amount(match.group(1)), _russian_unit(match.group(2)))
    # Longer words first: "позавчера" contains "вчера", "avant-hier" contains "hier".
    if any(word in text for word in _DAY_BEFORE_YESTERDAY_WORDS):
        return today - timedelta(days=2)
    if any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) for word in _YESTERDAY_WORDS):
        return today - timedelta(days=1)
    if any(word in text for word in _SAME_DAY_WORDS):
        return today
    return None


def infer_year(month: int, day: int, today: date) -> date | None:
    """The latest date with this month and day that is not after ``today``.

    Sites print this year's dates without a year ("7 апреля в 14:08"); a day later than
    today must then be from last year. Feb 29 goes back to the last leap year.
    """
    for year in range(today.year, today.year - 8, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def _make(year: int | None, month: int, day: int, today: date) -> date | None:
    if year is None:
        return infer_year(month, day, today)
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _numeric(match: re.Match[str], today: date, order: str | None) -> date | None:
    first, separator, second, third = match.groups()
    a, b, c = int(first), int(second), int(third)
    if len(first) == 4:
        return _make(a, b, c, today)
    if order is None:
        # US sites write 4/16/2016; European and Russian ones 16.04.2016.
        order = "mdy" if separator == "/" else "dmy"
    if order == "mdy" and a > 12 >= b:
        order = "dmy"
    elif order == "dmy" and b > 12 >= a:
        order = "mdy"
    if order == "mdy":
        return _make(c, a, b, today)
    return _make(c, b, a, today)


def parse_review_date(text: str | None, *, today: date | None = None, order: str | None = None) -> str | None:
    """Parse a date as a review site shows it and return ``YYYY-MM-DD``, or None if there is none.

    ``today`` is the reference for relative dates and year-less dates (default: the
    current date). ``order`` ("dmy" or "mdy") settles ambiguous numeric dates; without
    it, slashes mean month first and dots or dashes mean day first.
    """
    if not text:
        return None
    today = today or date.today()
    normalized = " ".join(str(text).replace("\xa0", " ").split()).lower()
    if not normalized:
        return None

    match = _ISO.search(normalized)
    if match:
        found = _make(int(match.group(1)), int(match.group(2)), int(match.group(3)), today)
        if found:
            return found.isoformat()

    match = _DAY_MONTH.search(normalized)
    if match:
        year = int(match.group(3)) if match.group(3) else None
        found = _make(year, _MONTH_WORDS[match.group(2)], int(match.group(1)), today)
        if found:
            return found.isoformat()

    match = _MONTH_DAY.search(normalized)
    if match:
        year = int(match.group(3)) if match.group(3) else None
        found = _make(year, _MONTH_WORDS[match.group(1)], int(match.group(2)), today)
        if found:
            return found.isoformat()

    match = _NUMERIC.search(normalized)
    if match:
        found = _numeric(match, today, order)
        if found:
            return found.isoformat()

    found = _relative(normalized, today)
    return found.isoformat() if found else None
