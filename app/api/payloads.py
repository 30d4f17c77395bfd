"""How the API and the webhooks describe the clinic's data: the same shapes, never contact details."""
from __future__ import annotations

from datetime import datetime, timezone

from app.models import Branch, Case, Doctor, ExternalReview, Response


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def response_json(response: Response, case: Case | None) -> dict:
    """One response: what the patient said and what became of it; never contacts."""
    return {
        "id": response.id, "reference": response.reference, "submitted_at": iso(response.submitted_at),
        "language": response.language,
        "collection_point": response.collection_point.name if response.collection_point else None,
        "branch": response.branch.name if response.branch else None,
        "doctor": response.doctor.full_name if response.doctor else None,
        "nps": response.nps, "would_return": response.would_return,
        "ratings": {rating.aspect: rating.score for rating in response.ratings},
        "comment": response.comment, "urgent": response.urgent,
        "risk_level": response.risk_level, "risk_reasons": list(response.risk_reasons or []),
        "sentiment": None if response.sentiment_label is None else {
            "label": response.sentiment_label, "polarity": response.sentiment_polarity},
        "topics": response.topics or {},
        "contact_left": response.has_contact,
        "case": None if case is None else {"status": case.status, "resolved_at": iso(case.resolved_at)},
    }


def case_json(case: Case) -> dict:
    """One case, without its notes or resolution text (managers write patients' details there)."""
    return {"id": case.id, "status": case.status, "origin": case.origin, "created_at": iso(case.created_at),
            "deadline_at": iso(case.deadline_at), "resolved_at": iso(case.resolved_at)}


def external_review_json(review: ExternalReview, branch: Branch | None, doctor: Doctor | None) -> dict:
    """A public review as found on its site, with our reading of it; without the author's name."""
    return {
        "id": review.id, "site": review.site, "url": review.url or None,
        "published_on": review.published_on.isoformat() if review.published_on else None,
        "first_seen_at": iso(review.first_seen_at), "rating": review.rating, "text": review.text,
        "replied": bool(review.reply),
        "sentiment": {"label": review.sentiment_label, "polarity": review.sentiment_polarity},
        "contradiction": review.contradiction, "topics": review.topics or {},
        "branch": branch.name if branch else None, "doctor": doctor.full_name if doctor else None,
    }
