"""Importing visits from the clinic's CRM/MIS export (CSV or XLSX).

The steps: read the file's header and guess a column mapping (``inspect_file``),
let a person correct it, preview the first rows (``preview``), then import
(``run_import``). An import is all-or-nothing: every row is validated first and
a single bad row fails the whole file with a report naming each bad row and why.
Re-importing the same rows changes nothing: each visit has a fingerprint of its
content, unique per clinic.

Branches and doctors are matched by name (case and spacing ignored) against the
clinic's own; an unknown name is a validation error rather than a new record, so
a typo in the CRM never invents a doctor who then gets a scorecard.
Patients are known only by the CRM's pseudonymous id.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import case, func, insert, select, text, update

from app.extensions import db
from app.i18n import N_
from app.models import Branch, Doctor, Patient, Visit, VisitImport, utcnow
from app.parsing import whole_number, without_control_chars

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 500_000
MAX_REPORTED_ERRORS = 500
CHUNK = 500

FIELDS = ("patient", "visited_on", "branch", "doctor", "service", "amount", "gender", "birth_year", "district",
          "first_visit", "bonuses_awarded", "bonuses_redeemed")
REQUIRED = ("patient", "visited_on", "amount")
# Header names the CRM exports commonly use, normalised (lower case, no spaces or punctuation).
SYNONYMS = {
    "patient": ("patient", "patientid", "patientexternalid", "externalid", "clientid", "пациент", "idпациента",
                "кодпациента", "пациентid", "клиент", "idклиента"),
    "visited_on": ("date", "visitdate", "visitedon", "visited", "дата", "датавизита", "датаприема", "датаприёма"),
    "branch": ("branch", "filial", "clinic", "филиал", "отделение"),
    "doctor": ("doctor", "physician", "врач", "доктор", "специалист"),
    "service": ("service", "услуга", "наименованиеуслуги"),
    "amount": ("amount", "amountpaid", "paid", "sum", "price", "сумма", "оплачено", "стоимость", "суммаоплаты"),
    "gender": ("gender", "sex", "пол"),
    "birth_year": ("birthyear", "yearofbirth", "годрождения"),
    "district": ("district", "area", "район", "округ"),
    "first_visit": ("firstvisit", "first", "new", "первичный", "первичныйприем", "первичныйприём", "первыйвизит"),
    "bonuses_awarded": ("bonusesawarded", "bonusawarded", "awarded", "начисленобонусов", "бонусыначислено",
                        "начислено"),
    "bonuses_redeemed": ("bonusesredeemed", "bonusredeemed", "redeemed", "списанобонусов", "бонусысписано",
                         "списано"),
}


class ImportFileError(ValueError):
    """The file cannot be read at all (format, encoding, size, header).

    ``message`` is an English msgid with ``%(name)s`` placeholders filled from
    ``params``, so each reader sees it in their language (``app.i18n.translate``);
    ``str()`` gives the English text.
    """

    def __init__(self, message: str, **params):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


@dataclass
class RowError:
    """One bad row: its line in the file (header = line 1), the field, the raw value and why."""

    line: int
    field: str
    value: str
    message: str  # an English msgid, translated where it is shown
    params: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"line": self.line, "field": self.field, "value": self.value[:80], "message": self.message,
                "params": self.params}


@dataclass
class ParsedRow:
    line: int
    values: dict


@dataclass
class ImportReport:
    """What an import did or why it refused."""

    total_rows: int = 0
    imported: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-.,;:()/#№]+", "", (text or "").strip().lower()).replace("ё", "е")


def _name_key(text: str) -> str:
    return " ".join((text or "").split()).lower().replace("ё", "е")


def read_rows(content: bytes, file_format: str, encoding: str = "utf-8") -> tuple[list[str], list[list]]:
    """Header and data rows of a CSV or XLSX file; ``ImportFileError`` with a clear reason otherwise."""
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError(N_("The file is larger than %(mb)s MB."), mb=MAX_FILE_BYTES // (1024 * 1024))
    if not content.strip():
        raise ImportFileError(N_("The file is empty."))
    if file_format == "xlsx":
        rows = _xlsx_rows(content)
    elif file_format == "csv":
        rows = _csv_rows(content, encoding)
    else:
        raise ImportFileError(N_("Upload a .csv or .xlsx file."))
    rows = [row for row in rows if any(str(cell).strip() for cell in row if cell is not None)]
    if not rows:
        raise ImportFileError(N_("The file has no rows."))
    header = [str(cell if cell is not None else "").strip() for cell in rows[0]]
    if not any(header):
        raise ImportFileError(N_("The first row must name the columns."))
    if len(rows) - 1 > MAX_ROWS:
        raise ImportFileError(N_("The file has more than %(rows)s rows; split it."), rows=MAX_ROWS)
    return header, rows[1:]


def _csv_rows(content: bytes, encoding: str) -> list[list]:
    encoding = (encoding or "utf-8").lower()
    if encoding in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    try:
        text = content.decode(encoding)
    except LookupError as exc:
        raise ImportFileError(N_("Unknown encoding “%(encoding)s”."), encoding=encoding) from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            N_("The file is not valid %(encoding)s text (byte %(byte)s). "
               "Save it as “CSV UTF-8”, or choose its encoding (e.g. windows-1251)."),
            encoding=encoding.replace("-sig", "").upper(), byte=exc.start) from exc
    if "\x00" in text:
        raise ImportFileError(N_("The file is not a text CSV file (it contains NUL bytes)."))
    sample = text[:4096]
    delimiter = max((";", ",", "\t"), key=lambda d: sample.split("\n", 1)[0].count(d))
    try:
        # newline=None reads old Mac Excel's CR-only line ends as line ends.
        return list(csv.reader(io.StringIO(text, newline=None), delimiter=delimiter))
    except csv.Error as exc:
        raise ImportFileError(N_("The file cannot be read as CSV: %(reason)s"), reason=str(exc)) from exc


def _xlsx_rows(content: bytes) -> list[list]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(N_("The file is not a readable XLSX workbook.")) from exc
    try:
        sheet = workbook.worksheets[0]
        # Read-only mode trusts the sheet's declared size, which some generators leave stale:
        # rows and columns past it would be dropped without a word.
        sheet.reset_dimensions()
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def guess_mapping(header: list[str]) -> dict[str, str]:
    """``{field: column}`` for the columns whose names match a known synonym."""
    mapping: dict[str, str] = {}
    for column in header:
        normalised = _norm(column)
        for name, synonyms in SYNONYMS.items():
            if name not in mapping and (normalised == _norm(name) or normalised in synonyms):
                mapping[name] = column
                break
    return mapping


def file_format_of(filename: str) -> str:
    """``csv`` or ``xlsx`` from the file name; ``ImportFileError`` for anything else."""
    lower = (filename or "").lower()
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return "csv"
    if lower.endswith(".xlsx"):
        return "xlsx"
    raise ImportFileError(N_("Upload a .csv or .xlsx file."))


def check_mapping(header: list[str], mapping: dict[str, str]) -> list[tuple[str, dict]]:
    """Problems with a mapping, as (msgid, params): required fields not mapped, unknown fields or columns."""
    problems = []
    for name in REQUIRED:
        if not mapping.get(name):
            problems.append((N_("Required field “%(field)s” is not mapped to a column."), {"field": name}))
    for name, column in mapping.items():
        if name not in FIELDS:
            problems.append((N_("Unknown field “%(field)s”."), {"field": name}))
        elif column and column not in header:
            problems.append((N_("Column “%(column)s” is not in the file."), {"column": column}))
    return problems


# --- values ---

def parse_date(value) -> date:
    """A visit date from ISO ``YYYY-MM-DD`` (time ignored), ``DD.MM.YYYY``, ``DD/MM/YYYY`` or an XLSX date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    for pattern, order in ((r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$", "ymd"),
                           (r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?: .*)?$", "dmy"),
                           (r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: .*)?$", "dmy")):
        match = re.match(pattern, text)
        if match:
            a, b, c = (int(x) for x in match.groups())
            year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
            try:
                return date(year, month, day)
            except ValueError:
                raise ValueError(N_("no such day in the calendar")) from None
    raise ValueError(N_("not a date (use YYYY-MM-DD or DD.MM.YYYY)"))


def parse_money(value) -> int:
    """Kopecks from ``1500``, ``1 500,50``, ``1500.50``; negative amounts are refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        amount = Decimal(str(value))
    else:
        text = re.sub(r"[\s\u00a0\u202f₽]|руб\.?|RUB", "", str(value), flags=re.I)
        if "," in text and "." in text:
            text = text.replace(",", "") if text.rfind(".") > text.rfind(",") else \
                text.replace(".", "").replace(",", ".")
        elif re.fullmatch(r"\d{1,3}(,\d{3})+", text):
            # "1,500": thousands or one and a half? A CRM in English means the first, one in Russian
            # the second; guessing would be wrong by a factor of a thousand for someone.
            raise ValueError(N_("ambiguous amount: write 1500 or 1500,00"))
        else:
            text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(N_("not an amount")) from exc
    if not amount.is_finite():  # "nan", "inf": Decimal reads them, no till does
        raise ValueError(N_("not an amount"))
    if amount < 0:
        raise ValueError(N_("must not be negative"))
    if amount > Decimal("100000000"):
        raise ValueError(N_("implausibly large"))
    return int((amount * 100).quantize(Decimal("1")))


_GENDERS = {"m": "m", "male": "m", "м": "m", "муж": "m", "мужской": "m", "f": "f", "female": "f", "ж": "f",
            "жен": "f", "женский": "f"}
_YES = {"1", "yes", "y", "true", "да", "д", "+", "первичный"}
_NO = {"0", "no", "n", "false", "нет", "н", "-", "повторный"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # A NUL from a broken export would be refused by PostgreSQL in the middle of the import.
    return without_control_chars(str(value)).strip()


def parse_row(line: int, raw: dict, today: date) -> tuple[dict, list[RowError]]:
    """Validate one row (``{field: raw value}``); returns clean values and the row's errors."""
    errors: list[RowError] = []
    out: dict = {}

    def bad(name, message, **params):
        errors.append(RowError(line, name, _text(raw.get(name)), message, params))

    patient = _text(raw.get("patient"))
    if not patient:
        bad("patient", N_("patient id is empty"))
    elif len(patient) > 64:
        bad("patient", N_("patient id is longer than 64 characters"))
    out["patient"] = patient
    try:
        visited = parse_date(raw.get("visited_on"))
        if not date(1990, 1, 1) <= visited <= today:
            bad("visited_on", N_("date is in the future or before 1990"))
        out["visited_on"] = visited
    except ValueError as exc:
        bad("visited_on", str(exc))
    for name in ("amount", "bonuses_awarded", "bonuses_redeemed"):
        value = raw.get(name)
        if name == "amount" and (value is None or (isinstance(value, str) and not value.strip())):
            # Required: an empty cell is a gap in the export, not a free visit, which would pull revenue down.
            bad(name, N_("the amount is empty: write 0 for a free visit"))
            continue
        try:
            out[name] = parse_money(value)
        except ValueError as exc:
            bad(name, str(exc))
    out["branch"] = _text(raw.get("branch"))[:200]
    out["doctor"] = _text(raw.get("doctor"))[:200]
    out["service"] = _text(raw.get("service"))[:200]
    out["district"] = _text(raw.get("district"))[:120] or None
    gender = _text(raw.get("gender")).lower()
    out["gender"] = None
    if gender:
        if gender not in _GENDERS:
            bad("gender", N_("use M/F (М/Ж)"))
        else:
            out["gender"] = _GENDERS[gender]
    birth = _text(raw.get("birth_year"))
    out["birth_year"] = None
    if birth:
        year = whole_number(birth, minimum=1900, maximum=today.year)
        if year is None:
            bad("birth_year", N_("a year from 1900 to %(year)s"), year=today.year)
        else:
            out["birth_year"] = year
    first = _text(raw.get("first_visit")).lower()
    out["first_visit"] = None
    if first:
        if first in _YES:
            out["first_visit"] = True
        elif first in _NO:
            out["first_visit"] = False
        else:
            bad("first_visit", N_("use yes/no (да/нет, 1/0)"))
    return out, errors


def fingerprint(values: dict) -> str:
    """A visit's identity: the same patient, day, place, doctor, service and amount is the same visit."""
    parts = [values["patient"], values["visited_on"].isoformat(), _name_key(values["branch"]),
             _name_key(values["doctor"]), _name_key(values["service"]), str(values["amount"])]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def mapped_rows(header: list[str], rows: list[list], mapping: dict[str, str]):
    """Yield ``(line, {field: raw value})`` using the mapping (line 2 is the first data row)."""
    index = {name: header.index(column) for name, column in mapping.items() if column and column in header}
    for offset, row in enumerate(rows):
        yield offset + 2, {name: (row[i] if i < len(row) else None) for name, i in index.items()}


def preview(header: list[str], rows: list[list], mapping: dict[str, str], today: date, limit: int = 10):
    """The first rows as they would be imported, each with its errors."""
    result = []
    for line, raw in mapped_rows(header, rows[:limit], mapping):
        values, errors = parse_row(line, raw, today)
        result.append({"line": line, "values": values, "errors": [e.to_json() for e in errors]})
    return result


def validate(header, rows, mapping, today: date, progress=None) -> tuple[list[ParsedRow], ImportReport]:
    """Parse and check every row, names of branches and doctors included; nothing is written."""
    report = ImportReport(total_rows=len(rows))
    for problem, params in check_mapping(header, mapping):
        report.errors.append(RowError(1, "mapping", "", problem, params))
    if report.errors:
        report.error_count = len(report.errors)
        return [], report
    branches = {_name_key(name): bid for bid, name in db.session.execute(select(Branch.id, Branch.name))}
    doctors: dict[str, int | None] = {}
    for did, name in db.session.execute(select(Doctor.id, Doctor.full_name)):
        # Two doctors with one name cannot be told apart by the CRM's text.
        doctors[_name_key(name)] = None if _name_key(name) in doctors else did
    parsed: list[ParsedRow] = []
    for count, (line, raw) in enumerate(mapped_rows(header, rows, mapping), start=1):
        values, errors = parse_row(line, raw, today)
        if values["branch"]:
            values["branch_id"] = branches.get(_name_key(values["branch"]))
            if values["branch_id"] is None:
                errors.append(RowError(line, "branch", values["branch"],
                                       N_("no such branch in the clinic's settings")))
        else:
            values["branch_id"] = None
        if values["doctor"]:
            key = _name_key(values["doctor"])
            values["doctor_id"] = doctors.get(key)
            if key not in doctors:
                errors.append(RowError(line, "doctor", values["doctor"], N_("no such doctor in the clinic's settings")))
            elif values["doctor_id"] is None:
                errors.append(RowError(line, "doctor", values["doctor"], N_("two doctors have this name")))
        else:
            values["doctor_id"] = None
        report.error_count += len(errors)
        if len(report.errors) < MAX_REPORTED_ERRORS:
            report.errors.extend(errors[:MAX_REPORTED_ERRORS - len(report.errors)])
        if not errors:
            parsed.append(ParsedRow(line, values))
        if progress and count % 5000 == 0:
            progress(count // 2, len(rows))
    return parsed, report


def write_visits(parsed: list[ParsedRow], tenant_id: int, import_id: int | None, report: ImportReport,
                 progress=None) -> None:
    """Insert the new visits and patients of a validated file (the caller commits or rolls back)."""
    seen: set[str] = set()
    fresh: list[tuple[str, dict]] = []
    for row in parsed:
        fp = fingerprint(row.values)
        if fp in seen:
            report.duplicates += 1
            continue
        seen.add(fp)
        fresh.append((fp, row.values))
    known: set[str] = set()
    fps = [fp for fp, _ in fresh]
    for start in range(0, len(fps), CHUNK):
        known.update(db.session.scalars(select(Visit.fingerprint).where(
            Visit.tenant_id == tenant_id, Visit.fingerprint.in_(fps[start:start + CHUNK]))).all())
    report.duplicates += sum(1 for fp in fps if fp in known)
    fresh = [(fp, values) for fp, values in fresh if fp not in known]
    patients = _upsert_patients(tenant_id, [values for _, values in fresh])
    total = len(fresh)
    for start in range(0, total, CHUNK * 4):
        batch = fresh[start:start + CHUNK * 4]
        db.session.execute(insert(Visit), [{
            "tenant_id": tenant_id, "patient_id": patients[values["patient"]], "visited_on": values["visited_on"],
            "branch_id": values["branch_id"], "doctor_id": values["doctor_id"], "service": values["service"],
            "amount_kopecks": values["amount"], "first_visit": values["first_visit"],
            "bonuses_awarded_kopecks": values["bonuses_awarded"],
            "bonuses_redeemed_kopecks": values["bonuses_redeemed"], "fingerprint": fp, "import_id": import_id,
        } for fp, values in batch])
        if progress:
            progress(len(parsed) // 2 + (start + len(batch)) // 2, len(parsed))
    report.imported = total
    if total and statistics_stale(total):
        refresh_planner_statistics()
    update_first_visits(tenant_id, list(set(patients[values["patient"]] for _, values in fresh)))


def _upsert_patients(tenant_id: int, rows: list[dict]) -> dict[str, int]:
    attributes: dict[str, dict] = {}
    for values in rows:
        current = attributes.setdefault(values["patient"], {})
        for name in ("gender", "birth_year", "district"):
            if values[name] is not None:
                current[name] = values[name]
    ids: dict[str, int] = {}
    external = list(attributes)
    for start in range(0, len(external), CHUNK):
        for patient in db.session.scalars(select(Patient).where(
                Patient.tenant_id == tenant_id, Patient.external_id.in_(external[start:start + CHUNK]))):
            ids[patient.external_id] = patient.id
            for name, value in attributes[patient.external_id].items():
                setattr(patient, name, value)
    missing = [ext for ext in external if ext not in ids]
    if missing:
        db.session.execute(insert(Patient), [{"tenant_id": tenant_id, "external_id": ext, "created_at": utcnow(),
                                              **attributes[ext]} for ext in missing])
        for start in range(0, len(missing), CHUNK):
            ids.update(db.session.execute(select(Patient.external_id, Patient.id).where(
                Patient.tenant_id == tenant_id, Patient.external_id.in_(missing[start:start + CHUNK]))).all())
    db.session.flush()
    return ids


def update_first_visits(tenant_id: int, patient_ids: list[int]) -> None:
    """Set each patient's first visit: the visit the CRM flags as first, else the earliest one
    unless the CRM says that one was not the first (the patient predates the export).

    One UPDATE … FROM a grouped scan per chunk of patients: a round trip per patient was most
    of the time of a large import, and correlated subqueries per patient planned badly on a
    clinic whose visits had just arrived.
    """
    for start in range(0, len(patient_ids), CHUNK):
        chunk = patient_ids[start:start + CHUNK]
        days = select(
            Visit.patient_id, func.min(Visit.visited_on).label("earliest"),
            func.min(case((Visit.first_visit.is_(True), Visit.visited_on))).label("flagged_first"),
            func.min(case((Visit.first_visit.is_(False), Visit.visited_on))).label("flagged_repeat"),
        ).where(Visit.tenant_id == tenant_id, Visit.patient_id.in_(chunk)).group_by(Visit.patient_id).subquery()
        first = func.coalesce(days.c.flagged_first,
                              case((days.c.flagged_repeat == days.c.earliest, None), else_=days.c.earliest))
        db.session.execute(update(Patient).where(Patient.tenant_id == tenant_id, Patient.id == days.c.patient_id)
                           .values(first_visit_on=first).execution_options(synchronize_session=False))


def progress_key(tenant_id: int, import_id: int) -> str:
    """Redis key of an import's progress; it names the clinic."""
    return f"vernost:t{tenant_id}:visit-import:{import_id}:progress"


def _progress_writer(tenant_id: int, import_id: int):
    from app.extensions import redis_client

    def write(done: int, total: int) -> None:
        try:
            redis_client().set(progress_key(tenant_id, import_id), f"{done}/{total}", ex=24 * 3600)
        except Exception:  # noqa: BLE001 - progress is a nicety; the import must not fail for it
            pass

    return write


def read_progress(tenant_id: int, import_id: int) -> tuple[int, int] | None:
    """``(done, total)`` of a running import, or None when unknown."""
    from app.extensions import redis_client

    try:
        raw = redis_client().get(progress_key(tenant_id, import_id))
    except Exception:  # noqa: BLE001
        return None
    if not raw:
        return None
    done, total = raw.decode().split("/")
    return int(done), int(total)


def run_import(visit_import: VisitImport, today: date, track_progress: bool = True) -> ImportReport:
    """Validate and import a file, all or nothing; records the outcome on the import row and commits."""
    tenant_id = visit_import.tenant_id
    import_id = visit_import.id
    progress = _progress_writer(tenant_id, import_id) if track_progress else None
    visit_import.status = "running"
    db.session.commit()
    try:
        header, rows = read_rows(visit_import.content or b"", visit_import.file_format, visit_import.encoding)
    except ImportFileError as exc:
        report = ImportReport(errors=[RowError(1, "file", "", exc.message, exc.params)], error_count=1)
        return _finish(visit_import, report)
    parsed, report = validate(header, rows, visit_import.mapping or {}, today, progress)
    if report.ok:
        try:
            write_visits(parsed, tenant_id, import_id, report, progress)
        except Exception:
            db.session.rollback()
            raise
    else:
        db.session.rollback()
    visit_import = db.session.get(VisitImport, import_id)
    return _finish(visit_import, report)


# The planner is told about new rows when an import is this large a share of the rows it believes
# the tables hold (a new platform), or of the rows the clinic held before (its first export into a
# database that other clinics fill: the table barely grows, but the estimate for this clinic's
# rows, which plans all its queries, is off by the whole import).
STALE_SHARE = 0.2
SQLITE_ANALYZE_ROWS = 200


def statistics_stale(inserted: int) -> bool:
    """Whether ``inserted`` new visits make the planner's row estimates misleading."""
    if db.engine.dialect.name != "postgresql":
        return inserted >= SQLITE_ANALYZE_ROWS
    believed = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'visits'::regclass"))
    if believed is None or believed < 0 or inserted > STALE_SHARE * believed:
        return True
    clinic_before = db.session.scalar(select(func.count()).select_from(Visit)) - inserted  # this clinic's
    return inserted > STALE_SHARE * clinic_before


def refresh_planner_statistics() -> None:
    """Bring the database's row estimates for visits and patients up to date, in the current transaction.

    Right after thousands of visits arrive the planner still believes the tables are nearly
    empty until autovacuum gets round to them: the import's own last step (first visits) and
    the metrics recompute that follows would get plans that loop over one table for every row
    of another. ANALYZE counts the transaction's own new rows, and its figures are committed
    with them.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT refresh_import_statistics()"))
    else:
        db.session.execute(text("ANALYZE visits"))
        db.session.execute(text("ANALYZE patients"))


def _finish(visit_import: VisitImport, report: ImportReport) -> ImportReport:
    visit_import.total_rows = report.total_rows
    visit_import.imported_rows = report.imported if report.ok else 0
    visit_import.duplicate_rows = report.duplicates if report.ok else 0
    visit_import.errors = [e.to_json() for e in report.errors]
    visit_import.status = "done" if report.ok else "failed"
    visit_import.finished_at = utcnow()
    if report.ok:
        visit_import.content = None  # the visits are in the database now; keep no copy of the export
    db.session.commit()
    return report


def create_import(filename: str, content: bytes, encoding: str, created_by: str,
                  mapping: dict[str, str] | None = None) -> VisitImport:
    """Store an uploaded file as a new import with its header and a guessed mapping (caller commits).

    Raises ImportFileError when the file cannot be read.
    """
    file_format = file_format_of(filename)
    header, _ = read_rows(content, file_format, encoding)
    guessed = guess_mapping(header)
    if mapping:
        guessed.update(mapping)
    visit_import = VisitImport(filename=filename[:200], file_format=file_format, encoding=encoding or "utf-8",
                               content=content, columns=header, mapping=guessed, created_by=created_by[:254])
    db.session.add(visit_import)
    return visit_import
