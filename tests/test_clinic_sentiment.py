"""A clinic's own sentiment model: trained on its star-rated reviews, measured, used only when better, never shared."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ClinicSentimentModel, ExternalReview, PendingJob, Response
from app.nlp.sentiment import SentimentModel, default_model
from tenants.context import tenant_scope
from tests.conftest import SENTIMENT_DATA, form_token, needs_sentiment_data
from tests.factories import make_response

STARS = {"negative": 1.0, "neutral": 3.0, "positive": 5.0}


def add_rated_reviews(app, clinic_id: int, count: int, offset: int = 0) -> None:
    """Real patient answers from the shared NHS corpus, stored as the clinic's rated public reviews."""
    rows = [json.loads(line) for line in (SENTIMENT_DATA / "en_nhs_patient_feedback_train.jsonl").read_text(
        encoding="utf-8").splitlines()][offset:offset + count]
    with app.app_context(), tenant_scope(clinic_id):
        db.session.add_all([ExternalReview(key=f"nhs-{offset + i}", site="test", origin="csv", text=row["text"],
                                           rating=STARS[row["label"]]) for i, row in enumerate(rows)])
        db.session.commit()


def _models(app, clinic_id):
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalars(select(ClinicSentimentModel).order_by(ClinicSentimentModel.id)).all()


def test_model_file_content_round_trips_through_bytes():
    texts = ["rude and slow", "lovely staff", "it was ok", "terrible wait", "great care", "fine I guess"] * 3
    labels = ["negative", "positive", "neutral", "negative", "positive", "neutral"] * 3
    model = SentimentModel().train(texts, labels, min_count=1)
    again = SentimentModel.from_bytes(model.to_bytes())
    probe = ["the staff were rude", "great, lovely care"]
    assert again.predict(probe) == model.predict(probe)
    assert SentimentModel.from_bytes(default_model().to_bytes()).predict(probe) == default_model().predict(probe)
    with pytest.raises(ValueError, match="not a vernost-sentiment model"):
        SentimentModel.from_bytes(b"PK\x03\x04 not a model", "upload")


def test_too_few_rated_reviews_is_a_clear_refusal(app, tenant, manager_client):
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "standard analyser" in page
    response = manager_client.post(tenant.url("reputation/model/train"), data={"csrf_token": form_token(page)},
                                   follow_redirects=True)
    assert response.status_code == 200 and "At least 60 reviews with a star rating" in response.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(PendingJob)) == 0


@needs_sentiment_data
def test_clinic_trains_its_model_through_a_job_and_only_it_uses_it(app, tenant, other_tenant, manager_client):
    from jobs.worker import InlineAppWorker, build_worker
    from app.reputation.clinic_model import clinic_scorer

    add_rated_reviews(app, tenant.id, 600)
    add_rated_reviews(app, other_tenant.id, 60, offset=1000)  # the other clinic's reviews are never read
    earlier_comment = "Waited ages for the receptionist, then it was fine"
    earlier = make_response(app, tenant.id, comment=earlier_comment, nps=7)
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    started = manager_client.post(tenant.url("reputation/model/train"), data={"csrf_token": form_token(page)})
    assert started.status_code == 302
    again = manager_client.post(tenant.url("reputation/model/train"), data={"csrf_token": form_token(page)},
                                follow_redirects=True)
    assert "already under way" in again.get_data(as_text=True)  # a double click trains once
    build_worker(app, ["scrape"], worker_class=InlineAppWorker).work(burst=True)

    [record] = _models(app, tenant.id)
    assert _models(app, other_tenant.id) == []
    # Answers too short to analyse ("Nothing.") are left out.
    assert 500 <= record.trained_on <= 600 and record.folds == 5
    assert sum(record.label_counts.values()) == record.trained_on and record.created_by == tenant.owner_email
    print(f"clinic model {record.macro_f1:.3f} vs standard {record.default_macro_f1:.3f} on {record.trained_on}")
    # Patient feedback is where a model trained on the clinic's own answers beats the general lexicon.
    assert record.macro_f1 > record.default_macro_f1 and record.active
    html = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "clinic's own model" in html and "in use" in html and f"{record.macro_f1:.2f}" in html

    with app.app_context():
        with tenant_scope(tenant.id):
            own = clinic_scorer()
            assert own is not default_model() and own.trained
        with tenant_scope(other_tenant.id):
            assert clinic_scorer() is default_model()

    # What was stored before is scored again by the model now in use; the rating still decides a review's label.
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, earlier).sentiment_polarity == pytest.approx(
            own.score(earlier_comment).polarity, abs=1e-4)
        review = db.session.scalar(select(ExternalReview).where(ExternalReview.rating == 1.0))
        assert review.sentiment_label == "negative"
        assert review.sentiment_polarity == pytest.approx(own.score(review.text).polarity, abs=1e-4)

    # A new patient comment in this clinic is scored by its model.
    from jobs.feedback import response_received

    comment = "Could not get through on the phone for two days"
    response_id = make_response(app, tenant.id, comment=comment, nps=6)
    with app.app_context():
        response_received(tenant.id, response_id)
        with tenant_scope(tenant.id):
            stored = db.session.get(Response, response_id)
            assert stored.sentiment_polarity == pytest.approx(own.score(comment).polarity, abs=1e-4)

    # Back to the standard analyser on request.
    page = manager_client.get(tenant.url("reputation")).get_data(as_text=True)
    manager_client.post(tenant.url("reputation/model/use-default"), data={"csrf_token": form_token(page)})
    assert not any(m.active for m in _models(app, tenant.id))
    with app.app_context(), tenant_scope(tenant.id):
        assert clinic_scorer() is default_model()
    build_worker(app, ["scrape"], worker_class=InlineAppWorker).work(burst=True)  # re-scores with the default
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, earlier).sentiment_polarity == pytest.approx(
            default_model().score(earlier_comment).polarity, abs=1e-4)


def test_viewers_cannot_train(app, tenant):
    from tests.conftest import add_member, login

    email = add_member(app, tenant, "viewer@example.com", "viewer")
    client = app.test_client()
    login(client, email)
    page = client.get(tenant.url("reputation")).get_data(as_text=True)
    assert "Train on our rated reviews" not in page
    assert client.post(tenant.url("reputation/model/train"), data={"csrf_token": form_token(page)}).status_code == 403


@needs_sentiment_data
def test_command_line_training(app, tenant):
    from app.reputation.clinic_model import clinic_scorer

    add_rated_reviews(app, tenant.id, 600)
    comment = "Waited ages for the receptionist, then it was fine"
    earlier = make_response(app, tenant.id, comment=comment, nps=7)
    result = app.test_cli_runner().invoke(args=["reviews", "train-sentiment", "--tenant", tenant.slug])
    assert result.exit_code == 0, result.output
    assert "rated reviews" in result.output and "held-out macro-F1 over 5 folds" in result.output and "standard analyser" in result.output
    [record] = _models(app, tenant.id)
    assert record.active and "in use: the clinic's model" in result.output and "re-scored" in result.output
    # The command re-scores what was stored before, as the workspace's job does.
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, earlier).sentiment_polarity == pytest.approx(
            clinic_scorer().score(comment).polarity, abs=1e-4)
    missing = app.test_cli_runner().invoke(args=["reviews", "train-sentiment", "--tenant", "nope"])
    assert missing.exit_code != 0 and "no clinic" in missing.output
