"""Everything a clinic holds, as one ZIP of CSV files: for the clinic to keep when it leaves, or to move.

One file per table of the clinic's data (answers, ratings, consents, cases and their history,
patients and visits, public reviews, snapshots, settings of every kind), plus ``people.csv``
(the clinic's members) and ``README.txt``. Secrets are never written: token and key hashes,
webhook secrets, passwords and two-factor secrets. The service's own machinery (queued jobs,
metric refresh marks, trained model files) is left out.

The archive is streamed as it is written, a few thousand rows at a time, so a clinic of a
million answers is exported without holding it in memory. It runs in the clinic's scope and
every query names the clinic; on PostgreSQL the row-level policy admits no other clinic's rows.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime, timezone
from typing import Iterator

from sqlalchemy import JSON, LargeBinary, Text, cast, select

from app.extensions import db
from app.models import Membership, User
from app.spreadsheet import safe_cell
from tenants.context import tenant_scope
from tenants.offboarding import tenant_tables

LEFT_OUT_TABLES = {"pending_jobs", "metric_dirty_periods", "clinic_sentiment_models"}
SECRET_COLUMNS = {"token_hash", "secret_hash", "secret", "status_token_hash", "password_hash", "totp_secret",
                  "recovery_code_hashes"}
BATCH = 2000

README = """Vernost: everything {name} ({slug}) held on {when}.

One CSV file (UTF-8, comma-separated, a header row) per kind of record; each row keeps its id,
and columns ending in _id refer to the id in the file of that name (response_id to
responses.csv, case_id to cases.csv, user_id to people.csv). Times are UTC in ISO 8601;
lists and maps (answers, ratings per aspect, settings) are JSON. Text that begins with = + - @
(or a tab) has an apostrophe put in front, so a spreadsheet shows it and does not run it as a
formula; take it off when loading the files into another system.

people.csv lists the clinic's members. Secrets (passwords, keys, link tokens) are not included.
The files hold patients' personal data where they left it with their consent: keep them as
carefully as the workspace did.
"""


class _Pipe(io.RawIOBase):
    """A write-only stream whose bytes are taken out as they come (the ZIP writer writes into it)."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        chunk, self._chunks = b"".join(self._chunks), []
        return chunk


def exported_tables():
    """The tables written, parents before children, each with the columns written."""
    for table in reversed(tenant_tables()):
        if table.name in LEFT_OUT_TABLES:
            continue
        columns = [column for column in table.columns if column.name not in SECRET_COLUMNS
                   and not isinstance(column.type, LargeBinary)]
        yield table, columns


def _cell(value):
    """Any value as CSV text (the slow, general path; see ``_converters``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _plain(value):
    return "" if value is None else value


def _text(value):
    # Patients' and reviewers' words: never a formula in the spreadsheet that opens the file.
    return "" if value is None else safe_cell(value)


def _converters(columns) -> list:
    """One converter per column, chosen once from its type: millions of cells skip the type tests.

    JSON is read as the database's own text (see ``_rows``), so it passes as it is.
    """
    converters = []
    for column in columns:
        if isinstance(column.type, JSON):
            converters.append(_plain)
            continue
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            python_type = object
        simple = python_type in (int, float) and not issubclass(python_type, bool)
        converters.append(_text if python_type is str else _plain if simple else _cell)
    return converters


def _rows(table, columns, tenant_id: int) -> Iterator[list]:
    converters = _converters(columns)
    # JSON is read as the database's own text: decoding and encoding it again cost a third of the time.
    selected = [cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
                for column in columns]
    query = select(*selected).where(table.c.tenant_id == tenant_id).order_by(*table.primary_key.columns)
    for row in db.session.execute(query.execution_options(yield_per=BATCH)):
        yield [convert(value) for convert, value in zip(converters, row)]


def _people(tenant_id: int) -> Iterator[list]:
    query = (select(User.id, User.email, User.full_name, Membership.role, Membership.created_at,
                    User.totp_enabled_at.is_not(None), User.last_login_at)
             .join(Membership, Membership.user_id == User.id).where(Membership.tenant_id == tenant_id)
             .order_by(User.id))
    for row in db.session.execute(query):
        yield [safe_cell(_cell(value)) for value in row]


def stream_export(app, tenant_id: int) -> Iterator[bytes]:
    """The ZIP archive of clinic ``tenant_id`` in chunks, with the rows written per file in ``counts.json``.

    A response body is read after its request has ended, so the generator brings its own app
    context and enters the clinic's scope itself; nothing runs, and nothing is held, until the
    server starts reading, and a download cut short closes both.
    """
    from app.models import Tenant

    with app.app_context(), tenant_scope(tenant_id):
        yield from _archive(db.session.get(Tenant, tenant_id))


def _archive(tenant) -> Iterator[bytes]:
    tenant_id = tenant.id
    pipe = _Pipe()
    counts: dict[str, int] = {}
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("README.txt", README.format(name=tenant.name, slug=tenant.slug,
                                                     when=datetime.now(timezone.utc).isoformat(timespec="seconds")))
        sources = [("people", ["user_id", "email", "full_name", "role", "member_since", "two_factor", "last_login_at"],
                    _people(tenant_id))]
        sources += [(table.name, [column.name for column in columns], _rows(table, columns, tenant_id))
                    for table, columns in exported_tables()]
        for name, header, rows in sources:
            with archive.open(f"{name}.csv", "w", force_zip64=True) as entry:
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(header)
                written = 0
                for row in rows:
                    writer.writerow(row)
                    written += 1
                    if written % BATCH == 0:  # compress a batch at a time, and hand it on
                        entry.write(buffer.getvalue().encode("utf-8"))
                        buffer.seek(0)
                        buffer.truncate()
                        yield pipe.take()
                entry.write(buffer.getvalue().encode("utf-8"))
            counts[name] = written
            yield pipe.take()
        archive.writestr("counts.json", json.dumps(counts, indent=1, sort_keys=True))
    yield pipe.take()
