"""Reading reviews a manager imports by hand: a CSV file or pasted text. No database.

Both readers return an ``ImportReport``: the reviews read and, per bad line, what is
wrong with it. The caller stores the reviews only when there is no error at all
(all-or-nothing), so a half-imported file never has to be untangled.

CSV: a header row naming the columns ``date``, ``rating``, ``text``, ``author`` and
optionally ``site`` and ``reply`` (the clinic's answer; with the column, an empty cell says
the clinic has not answered) (any order, any case, comma or semicolon separated, UTF-8 or
Windows-1251). ``date`` is required (``YYYY-MM-DD``, ``DD.MM.YYYY`` or ``DD/MM/YYYY``);
``rating`` is empty or a number from 0 to 5; a row needs a text or a rating.

Pasted text: one review per paragraph (paragraphs are separated by a blank line). A
paragraph may start with a header line ``date | rating | author`` (each part may be
left empty, e.g. ``2024-05-01 | 4 |``); without one the whole paragraph is the text.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from app.parsing import without_control_chars

MAX_ROWS = 5000
MAX_TEXT = 20_000
COLUMNS = ("date", "rating", "text", "author", "site", "reply")
REQUIRED_COLUMNS = ("date", "rating", "text", "author")
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d.%m.%y")
_SITE = re.compile(r"^[a-z0-9_.-]{1,40}$")


@dataclass
class ImportedReview:
    """One review read from an import, before it is stored."""

    published_on: date | None
    rating: float | None
    text: str
    author: str = ""
    site: str = ""
    line: int = 0
    reply: str | None = None  # None: the file does not say whether the clinic answered


@dataclass
class ImportProblem:
    """A problem with one line (``line`` 0: the whole file)."""

    line: int
    message: str


@dataclass
class ImportReport:
    """What an import read: the reviews, and the problems that block it."""

    reviews: list[ImportedReview] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the import may be stored (no errors, at least one review)."""
        return not self.errors and bool(self.reviews)


def parse_date(value: str) -> date | None:
    """A review date in one of the accepted formats, or None when it does not parse."""
    value = (value or "").strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def parse_rating(value: str) -> tuple[float | None, bool]:
    """``(rating, ok)``: an empty value is ``(None, True)``; a number outside 0..5 is not ok."""
    value = (value or "").strip().replace(",", ".")
    if not value:
        return None, True
    if value.count("★") + value.count("☆") == len(value):
        return float(value.count("★")), True
    if value.endswith("/5"):
        value = value[:-2].strip()
    try:
        rating = float(value)
    except ValueError:
        return None, False
    if not 0 <= rating <= 5:
        return None, False
    return rating, True


def decode_upload(data: bytes) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), else Windows-1251."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251", errors="replace")


def parse_csv(content: str | bytes, today: date | None = None) -> ImportReport:
    """Read reviews from CSV text (see the module docstring); never raises on bad input."""
    from flask_babel import gettext as _

    text = without_control_chars(decode_upload(content) if isinstance(content, bytes) else content)
    report = ImportReport()
    today = today or date.today()
    if not text.strip():
        report.errors.append(ImportProblem(0, _("The file is empty.")))
        return report
    first_line = text.lstrip().splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    # newline=None reads old Mac Excel's CR-only line ends as line ends.
    reader = csv.reader(io.StringIO(text.lstrip(), newline=None), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (csv.Error, StopIteration):
        report.errors.append(ImportProblem(1, _("The header row cannot be read.")))
        return report
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        report.errors.append(ImportProblem(1, _("Missing columns: %(columns)s. Expected: %(expected)s.",
                                               columns=", ".join(missing), expected=", ".join(COLUMNS))))
        return report
    position = {name: header.index(name) for name in COLUMNS if name in header}
    line = 1
    try:
        for row in reader:
            line += 1
            if not any(cell.strip() for cell in row):
                continue
            if len(report.reviews) + len(report.errors) >= MAX_ROWS:
                report.errors.append(ImportProblem(line, _("Too many rows: at most %(n)s per import.", n=MAX_ROWS)))
                break
            cells = {name: (row[i].strip() if i < len(row) else "") for name, i in position.items()}
            review = _row_review(cells, line, today, report)
            if review is not None:
                report.reviews.append(review)
    except csv.Error as exc:
        report.errors.append(ImportProblem(line, _("The file is not valid CSV: %(reason)s", reason=str(exc))))
    if not report.reviews and not report.errors:
        report.errors.append(ImportProblem(0, _("The file has no reviews.")))
    return report


def _row_review(cells: dict, line: int, today: date, report: ImportReport) -> ImportedReview | None:
    from flask_babel import gettext as _
    from flask_babel import ngettext

    problems = []
    published = parse_date(cells.get("date", ""))
    if published is None:
        problems.append(_("the date %(value)r is not a date (YYYY-MM-DD or DD.MM.YYYY)", value=cells.get("date", "")))
    elif published > today:
        problems.append(_("the date %(value)s is in the future", value=published.isoformat()))
    rating, rating_ok = parse_rating(cells.get("rating", ""))
    if not rating_ok:
        problems.append(_("the rating %(value)r is not a number from 0 to 5", value=cells.get("rating", "")))
    review_text = cells.get("text", "")
    if not review_text and rating is None and rating_ok:
        problems.append(_("a review needs a text or a rating"))
    if len(review_text) > MAX_TEXT:
        problems.append(ngettext("the text is longer than %(num)s character",
                                 "the text is longer than %(num)s characters", MAX_TEXT))
    site = cells.get("site", "").lower()
    if site and not _SITE.match(site):
        problems.append(_("the site %(value)r should be a short name such as prodoctorov", value=site))
    if problems:
        report.errors.append(ImportProblem(line, "; ".join(problems)))
        return None
    reply = cells["reply"][:MAX_TEXT] if "reply" in cells else None
    return ImportedReview(published, rating, review_text, cells.get("author", "")[:200], site, line, reply)


def parse_pasted(content: str, today: date | None = None) -> ImportReport:
    """Read reviews pasted as paragraphs (see the module docstring); never raises on bad input."""
    from flask_babel import gettext as _
    from flask_babel import ngettext

    report = ImportReport()
    today = today or date.today()
    lines = without_control_chars(content or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paragraph: list[tuple[int, str]] = []

    def finish():
        if not paragraph:
            return
        if len(report.reviews) + len(report.errors) >= MAX_ROWS:
            if not any(e.message.startswith("Too many") for e in report.errors):
                report.errors.append(ImportProblem(paragraph[0][0], _("Too many reviews: at most %(n)s per import.",
                                                                    n=MAX_ROWS)))
            paragraph.clear()
            return
        first_line, first = paragraph[0]
        cells = {"date": "", "rating": "", "author": "", "text": ""}
        body = paragraph
        if "|" in first:
            parts = [p.strip() for p in first.split("|")]
            parts += [""] * (3 - len(parts))
            cells.update(date=parts[0], rating=parts[1], author="|".join(parts[2:]).strip(" |"))
            body = paragraph[1:]
        cells["text"] = "\n".join(text for _, text in body).strip()
        if cells["date"]:
            review = _row_review(cells, first_line, today, report)
        else:
            # No date given: the review is dated by when it was imported (first seen).
            rating, rating_ok = parse_rating(cells["rating"])
            problems = []
            if not rating_ok:
                problems.append(_("the rating %(value)r is not a number from 0 to 5", value=cells["rating"]))
            if not cells["text"] and rating is None:
                problems.append(_("a review needs a text or a rating"))
            if len(cells["text"]) > MAX_TEXT:
                problems.append(ngettext("the text is longer than %(num)s character",
                                 "the text is longer than %(num)s characters", MAX_TEXT))
            if problems:
                report.errors.append(ImportProblem(first_line, "; ".join(problems)))
                review = None
            else:
                review = ImportedReview(None, rating, cells["text"], cells["author"][:200], "", first_line)
        if review is not None:
            report.reviews.append(review)
        paragraph.clear()

    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            paragraph.append((number, raw.strip()))
        else:
            finish()
    finish()
    if not report.reviews and not report.errors:
        report.errors.append(ImportProblem(0, _("Nothing to import: paste at least one review.")))
    return report
