"""Collection points: where patients reach a questionnaire, their links, QR codes and counters."""
from __future__ import annotations

import io
import logging
import secrets

import redis
import segno
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app.extensions import db, redis_client
from app.models import Branch, CollectionPoint, Doctor, Questionnaire, Response
from app.questionnaires import create_default_questionnaire

POINT_KINDS = ("clinic", "branch", "doctor", "room", "campaign")
_TOKEN_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0) for printed links
# Page opens not yet written to the points' rows: hash field "<clinic id>:<point id>" -> count.
SCANS_KEY = "vernost:scans"
# A batch being written; a flush that died leaves it here and the next one finishes it first.
SCANS_FLUSHING_KEY = "vernost:scans:flushing"
# One flush at a time: two would both write the same batch before either removed it.
SCANS_FLUSH_LOCK = "vernost:scans:flush-lock"

log = logging.getLogger(__name__)


class CollectionPointError(ValueError):
    """A collection point that cannot be saved; the message (in the reader's language) says why."""


def new_point_token(length: int = 10) -> str:
    """A short unguessable token (~50 bits) for a printed link."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def create_point(*, name: str, kind: str, questionnaire_id: int, branch_id: int | None = None,
                 doctor_id: int | None = None) -> CollectionPoint:
    """A collection point in the current clinic; branch and doctor must be the clinic's own."""
    name = _checked_name(name)
    _check_refs(kind, questionnaire_id, branch_id, doctor_id)
    doctor = db.session.scalar(select(Doctor).where(Doctor.id == doctor_id)) if doctor_id is not None else None
    # A doctor's point is attributed to the doctor's branch unless one is given.
    if doctor is not None and branch_id is None:
        branch_id = doctor.branch_id
    point = CollectionPoint(token=new_point_token(), name=name, kind=kind, questionnaire_id=questionnaire_id,
                            branch_id=branch_id, doctor_id=doctor_id)
    db.session.add(point)
    db.session.flush()
    return point


def setup_feedback_for_new_clinic(clinic_name: str) -> CollectionPoint:
    """Default questionnaire, consent texts and a clinic-wide collection point for a new clinic."""
    questionnaire = create_default_questionnaire(clinic_name)
    return create_point(name="Клиника / Clinic", kind="clinic", questionnaire_id=questionnaire.id)


def default_point() -> CollectionPoint | None:
    """The current clinic's first clinic-wide point."""
    return db.session.scalar(select(CollectionPoint).order_by(CollectionPoint.id))


def count_scan(tenant_id: int, point_id: int) -> bool:
    """Count one page open of a point; returns True when the database row was changed (caller commits).

    The count goes to a Redis counter, so patients opening the same poster do not
    queue on one row's lock; ``flush_scans`` (every minute) moves it to the row.
    With Redis unreachable the row is updated directly, so no open is lost.
    """
    try:
        redis_client().hincrby(SCANS_KEY, f"{tenant_id}:{point_id}", 1)
        return False
    except redis.RedisError:
        _add_scans(point_id, 1)
        return True


def _add_scans(point_id: int, count: int) -> None:
    # An atomic UPDATE inside the clinic's scope: a point of another clinic matches no row.
    db.session.execute(update(CollectionPoint).where(CollectionPoint.id == point_id)
                       .values(scans=CollectionPoint.scans + count))


def flush_scans() -> int:
    """Write the page opens counted in Redis to the points' rows; returns how many opens were written.

    The pending counts are renamed to a batch key in one step (new opens start a
    fresh hash meanwhile); each (clinic, point) is written in that clinic's scope
    and committed, then removed from the batch. A crash between the commit and
    the removal can count that point's batch twice: a page-open statistic, not a
    patient's answer. One flush runs at a time (a Redis lock); another returns 0.
    """
    client = redis_client()
    lock = client.lock(SCANS_FLUSH_LOCK, timeout=600, blocking=False)
    if not lock.acquire():
        return 0  # another flush is writing; its batch is not ours to write again
    try:
        return _flush_batch(client)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("the scan flush outlived its lock")


def _flush_batch(client) -> int:
    from tenants.context import tenant_scope

    try:
        # RENAMENX: a batch left by a flush that died is finished first, never overwritten.
        client.renamenx(SCANS_KEY, SCANS_FLUSHING_KEY)
    except redis.ResponseError:
        pass  # no opens since the last flush
    written = 0
    for field, value in client.hgetall(SCANS_FLUSHING_KEY).items():
        try:
            tenant_id, point_id = (int(part) for part in field.decode().split(":"))
            count = int(value)
        except ValueError:
            log.warning("dropping a malformed scan counter %r", field)
            client.hdel(SCANS_FLUSHING_KEY, field)
            continue
        with tenant_scope(tenant_id):
            _add_scans(point_id, count)
            db.session.commit()
        client.hdel(SCANS_FLUSHING_KEY, field)
        written += count
    return written


def recount_completions(point_id: int) -> None:
    """Set a point's completions to the number of responses it collected (safe to run twice)."""
    count = select(func.count()).select_from(Response).where(Response.collection_point_id == point_id)
    db.session.execute(update(CollectionPoint).where(CollectionPoint.id == point_id)
                       .values(completions=count.scalar_subquery()))


def current_scans(tenant_id: int, points: list[CollectionPoint]) -> dict[int, int]:
    """Page opens per point: written to the row plus still waiting in Redis."""
    pending = pending_scans(tenant_id, [point.id for point in points])
    return {point.id: point.scans + pending.get(point.id, 0) for point in points}


def pending_scans(tenant_id: int, point_ids: list[int]) -> dict[int, int]:
    """Page opens counted in Redis and not yet written to the rows, per point (empty when Redis is down)."""
    if not point_ids:
        return {}
    fields = [f"{tenant_id}:{point_id}" for point_id in point_ids]
    try:
        client = redis_client()
        waiting = client.hmget(SCANS_KEY, fields)
        flushing = client.hmget(SCANS_FLUSHING_KEY, fields)
    except redis.RedisError:
        return {}
    return {point_id: int(a or 0) + int(b or 0) for point_id, a, b in zip(point_ids, waiting, flushing)}


def completion_rate(point: CollectionPoint, scans: int | None = None) -> float | None:
    """Share of page opens (``scans``, by default the row's) that ended in a submitted response."""
    scans = point.scans if scans is None else scans
    return min(point.completions / scans, 1.0) if scans else None


def qr_svg(url: str, scale: int = 8) -> bytes:
    """The link as an SVG QR code (error correction M, survives a little wear on a poster)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=scale, border=2, xmldecl=False,
                                                 svgns=True, title="QR")
    return out.getvalue()


def qr_png(url: str, scale: int = 12) -> bytes:
    """The link as a PNG QR code."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def _checked_name(name: str) -> str:
    name = (name or "").strip()[:200]
    if not name:
        raise CollectionPointError(_l("name is required"))
    return name


def _check_refs(kind: str, questionnaire_id: int, branch_id: int | None, doctor_id: int | None):
    # Each lookup runs in the clinic's scope: another clinic's id is "not found", like a wrong one.
    if kind not in POINT_KINDS:
        raise CollectionPointError(_l("kind must be one of %(kinds)s", kinds=", ".join(POINT_KINDS)))
    if db.session.scalar(select(Questionnaire.id).where(Questionnaire.id == questionnaire_id)) is None:
        raise CollectionPointError(_l("choose a questionnaire of this clinic"))
    if branch_id is not None and db.session.scalar(select(Branch.id).where(Branch.id == branch_id)) is None:
        raise CollectionPointError(_l("choose a branch of this clinic"))
    if doctor_id is not None and db.session.scalar(select(Doctor.id).where(Doctor.id == doctor_id)) is None:
        raise CollectionPointError(_l("choose a doctor of this clinic"))


def update_point(point: CollectionPoint, *, name: str, kind: str, questionnaire_id: int,
                 branch_id: int | None, doctor_id: int | None, active: bool) -> CollectionPoint:
    """Change a point's details; its token (the printed link) and counters never change."""
    name = _checked_name(name)
    _check_refs(kind, questionnaire_id, branch_id, doctor_id)
    point.name, point.kind, point.questionnaire_id = name, kind, questionnaire_id
    point.branch_id, point.doctor_id, point.active = branch_id, doctor_id, bool(active)
    db.session.flush()
    return point


def public_link(point: CollectionPoint, base_url: str) -> str:
    """The short link printed under a point's QR code."""
    return f"{base_url.rstrip('/')}/q/{point.token}"


def svg_markup(url: str) -> str:
    """An inline ``<svg>`` QR code for embedding in a page (the poster)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=1, border=2, xmldecl=False,
                                                 svgns=True, omitsize=True, title="QR")
    return out.getvalue().decode("utf-8")
