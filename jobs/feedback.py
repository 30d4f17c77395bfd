"""Follow-up work on a new response: the point's completion count, comment sentiment and topics, webhooks."""
from __future__ import annotations

from app.extensions import db
from app.collection import recount_completions
from app.models import Response
from jobs.app_context import tenant_job


@tenant_job
def response_received(tenant_id: int, response_id: int) -> None:
    """Recount the point's completions, score the comment's sentiment and tag its topics (idempotent)."""
    response = db.session.get(Response, response_id)
    if response is None or response.tenant_id != tenant_id:
        return
    if response.collection_point_id is not None:
        recount_completions(response.collection_point_id)
    if response.comment:
        from app.feedback import store_topics
        from app.nlp.topics import tag_aspects
        from app.reputation.clinic_model import clinic_scorer

        scored = clinic_scorer().score(response.comment)  # the clinic's own model when it has a better one
        response.sentiment_label, response.sentiment_polarity = scored.label, round(float(scored.polarity), 4)
        store_topics(response, tag_aspects(response.comment))
    db.session.commit()
    # The answer (and its sentiment) changes its month's, quarter's and year's figures.
    from app.analytics.refresh import REFRESH_JOB, mark_dirty, request_job
    from app.models import Tenant

    mark_dirty(db.session.get(Tenant, tenant_id), response.submitted_at)
    # The clinic's webhooks hear of the answer (with its sentiment) and of the case it opened.
    from app.webhooks import announce_response
    from jobs.outbox import flush_outbox

    webhook_jobs = announce_response(response)
    db.session.commit()
    request_job(tenant_id, REFRESH_JOB)
    flush_outbox(webhook_jobs)
