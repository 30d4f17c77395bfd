"""Praise the clinic publishes: which comments may be shown on its website, and what is shown.

Only a comment the patient allowed to publish (``publish_consent``), with a positive
NPS or a positive sentiment, can be chosen; the widget shows the comment, the NPS
and the month, never names or contacts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import hashlib

from sqlalchemy import select

from app.extensions import db
from app.models import PublishedReview, Response, utcnow
from app.privacy import mask_contact_details

WIDGET_LIMIT = 30

# What the patient agrees to when they tick "may publish my comment", by version. A response keeps
# the version it was given under (``publish_consent_version``, in its own language), so change the
# wording by adding a version, never by editing one.
PUBLISH_CONSENT_WORDINGS: dict[int, dict[str, str]] = {
    1: {"ru": "Клиника может опубликовать мой комментарий (без имени)",
        "en": "The clinic may publish my comment (without my name)"},
}
CURRENT_PUBLISH_WORDING = max(PUBLISH_CONSENT_WORDINGS)


def publish_consent_wording(language: str, version: int | None = None) -> str | None:
    """The words of publishing consent ``version`` (the current one by default) in ``language``."""
    wording = PUBLISH_CONSENT_WORDINGS.get(CURRENT_PUBLISH_WORDING if version is None else version)
    if wording is None:
        return None
    return wording.get(language) or wording["en"]


def can_publish(response: Response) -> bool:
    """Consented, has a comment, and is praise (NPS 9–10, or positive sentiment without a low NPS)."""
    if not (response.publish_consent and response.comment):
        return False
    if response.nps is not None:
        return response.nps >= 9
    return response.sentiment_label == "positive" and response.risk_level == "ok"


def publish(response: Response, user_id: int | None) -> PublishedReview:
    """Put a response's comment on the clinic's widget (idempotent)."""
    if response.published_review is None:
        response.published_review = PublishedReview(published_by_user_id=user_id, published_at=utcnow())
    return response.published_review


def unpublish(response: Response) -> None:
    """Take a comment off the widget."""
    if response.published_review is not None:
        db.session.delete(response.published_review)
        response.published_review = None


@dataclass(frozen=True)
class PublicReview:
    comment: str
    nps: int | None
    submitted_at: datetime


def widget_reviews(limit: int = WIDGET_LIMIT) -> list[PublicReview]:
    """The current clinic's published reviews, newest first, stripped to what the public may read."""
    rows = db.session.execute(
        select(Response.comment, Response.nps, Response.submitted_at, Response.publish_consent)
        .join(PublishedReview, PublishedReview.response_id == Response.id)
        .order_by(PublishedReview.published_at.desc(), PublishedReview.id.desc()).limit(limit)).all()
    # Consent is re-checked at read time: a withdrawn consent hides the review at once.
    # The patient agreed to publish the words without their name: contacts written into them stay hidden.
    return [PublicReview(mask_contact_details(r.comment), r.nps, r.submitted_at) for r in rows if r.publish_consent]


def widget_etag(reviews: list[PublicReview], *shown_with) -> str:
    """A validator of exactly what the widget shows: the reviews' words and scores, and ``shown_with``
    (the clinic's name, language and time zone). An edited comment (contacts masked at the end of
    the retention period) or a renamed clinic must not be answered "not modified"."""
    raw = repr([(r.comment, r.nps, r.submitted_at.isoformat()) for r in reviews] + [str(v) for v in shown_with])
    return hashlib.sha256(raw.encode()).hexdigest()[:24]
