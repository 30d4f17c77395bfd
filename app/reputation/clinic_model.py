"""A clinic's own sentiment model: trained on its star-rated reviews, used only when it beats the default.

Public reviews with a star rating are labelled by the rating (1–2 negative, 3
neutral, 4–5 positive), which is how a clinic gets labelled data without anyone
labelling by hand. Training measures the trained method and the default on the
same held-out folds of those reviews; the new model scores the clinic's reviews
and patient comments from then on only if it did better. Everything here runs
in the current clinic's scope: another clinic's reviews are never read, and its
model is never used.
"""
from __future__ import annotations

from collections import Counter

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import defer

from app.extensions import db
from app.models import ClinicSentimentModel, ExternalReview
from app.nlp.sentiment import SentimentModel, default_model, evaluate_model, is_analysable, label_from_rating
from tenants.context import require_tenant_id

MIN_REVIEWS = 60  # fewer than this and the held-out figures say nothing
MIN_PER_CLASS = 10  # for each of at least two labels
FOLDS = 5
_loaded: dict[tuple[int, int], SentimentModel] = {}  # (clinic, model id) -> model, per process


class ClinicModelError(ValueError):
    """The clinic cannot train a model yet; the message says why."""


def labelled_reviews() -> tuple[list[str], list[str]]:
    """Texts and rating labels of the clinic's reviews that carry both."""
    rows = db.session.execute(select(ExternalReview.text, ExternalReview.rating)
                              .where(ExternalReview.rating.is_not(None)).order_by(ExternalReview.id)).all()
    pairs = [(text, label_from_rating(rating)) for text, rating in rows if is_analysable(text or "")]
    return [text for text, _ in pairs], [label for _, label in pairs]


def check_trainable(labels: list[str]) -> None:
    """Raise ClinicModelError unless there are enough rated reviews to train and to measure."""
    counts = Counter(labels)
    if len(labels) < MIN_REVIEWS:
        raise ClinicModelError(_l("At least %(min)s reviews with a star rating and text are needed; there are "
                                  "%(n)s.", min=MIN_REVIEWS, n=len(labels)))
    if sum(1 for count in counts.values() if count >= MIN_PER_CLASS) < 2:
        raise ClinicModelError(_l("At least two of the labels (negative, neutral, positive) need %(min)s reviews "
                                  "each.", min=MIN_PER_CLASS))


def _folds(labels: list[str], folds: int) -> list[list[int]]:
    """Deterministic stratified folds: each label's rows dealt round-robin in their stored order."""
    assigned: list[list[int]] = [[] for _ in range(folds)]
    for label in sorted(set(labels)):
        for position, index in enumerate(i for i, item in enumerate(labels) if item == label):
            assigned[position % folds].append(index)
    return assigned


def train_clinic_model(created_by: str = "") -> ClinicSentimentModel:
    """Train on the clinic's rated reviews, measure against the default, store it; caller commits.

    The stored model is active (replacing any earlier one) only when its held-out
    macro-F1 is higher than the default's on the same folds.
    """
    texts, labels = labelled_reviews()
    check_trainable(labels)
    folds = min(FOLDS, max(2, min(count for count in Counter(labels).values() if count >= MIN_PER_CLASS)))
    trained_scores, default_scores = [], []
    baseline = default_model()
    for held_out in _folds(labels, folds):
        held = set(held_out)
        train = [i for i in range(len(texts)) if i not in held]
        if len({labels[i] for i in train}) < 2:
            continue
        model = SentimentModel().train([texts[i] for i in train], [labels[i] for i in train])
        held_texts, held_labels = [texts[i] for i in held_out], [labels[i] for i in held_out]
        trained_scores.append(evaluate_model(model, held_texts, held_labels)["macro_f1"])
        default_scores.append(evaluate_model(baseline, held_texts, held_labels)["macro_f1"])
    model = SentimentModel().train(texts, labels)
    macro_f1 = sum(trained_scores) / len(trained_scores)
    default_f1 = sum(default_scores) / len(default_scores)
    record = ClinicSentimentModel(
        tenant_id=require_tenant_id(), created_by=created_by[:254], trained_on=len(texts),
        label_counts=dict(Counter(labels)), folds=len(trained_scores), macro_f1=round(macro_f1, 4),
        default_macro_f1=round(default_f1, 4), active=macro_f1 > default_f1, content=model.to_bytes())
    if record.active:
        db.session.execute(update(ClinicSentimentModel).where(ClinicSentimentModel.active.is_(True))
                           .values(active=False))
    db.session.add(record)
    db.session.flush()
    return record


def rescore_clinic_texts(batch_size: int = 500) -> dict[str, int]:
    """Score the clinic's stored reviews and patient comments again with the model now in use.

    Run after the clinic switches models, so old and new texts are judged alike
    (the star rating still decides a review's label). Commits per batch; returns
    how many reviews and comments were scored.
    """
    from app.models import Response
    from app.nlp.sentiment import labels_contradict

    scorer = clinic_scorer()
    counts = {"reviews": 0, "comments": 0}
    for batch in _batches(ExternalReview, ExternalReview.text, batch_size):
        # A text of blanks has no sentiment, as when the review was stored (the index relies on it).
        reviews = [review for review in batch if review.text.strip()]
        for review, scored in zip(reviews, scorer.predict([review.text for review in reviews])):
            rating_label = label_from_rating(review.rating)
            review.sentiment_label = rating_label or scored.label
            review.sentiment_polarity = round(float(scored.polarity), 4)
            review.contradiction = labels_contradict(rating_label, scored.label)
        counts["reviews"] += len(reviews)
    for responses in _batches(Response, Response.comment, batch_size):
        for response, scored in zip(responses, scorer.predict([response.comment for response in responses])):
            response.sentiment_label, response.sentiment_polarity = scored.label, round(float(scored.polarity), 4)
        counts["comments"] += len(responses)
    return counts


def _batches(model, text_column, size: int):
    """The clinic's rows with a non-empty text, ``size`` at a time by id; commits after each batch."""
    after = 0
    while True:
        rows = db.session.scalars(select(model).where(model.id > after, text_column != "")
                                  .order_by(model.id).limit(size)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id
        db.session.commit()


def use_default() -> int:
    """Stop using the clinic's trained models; returns how many were active. Caller commits."""
    result = db.session.execute(update(ClinicSentimentModel).where(ClinicSentimentModel.active.is_(True))
                                .values(active=False))
    return result.rowcount or 0


def active_model_record() -> ClinicSentimentModel | None:
    """The clinic's model in use, if any (without loading its content)."""
    return db.session.scalar(select(ClinicSentimentModel).options(
        defer(ClinicSentimentModel.content)).where(ClinicSentimentModel.active.is_(True))
        .order_by(ClinicSentimentModel.id.desc()))


def recent_models(limit: int = 5) -> list[ClinicSentimentModel]:
    """The clinic's latest training outcomes, newest first."""
    return list(db.session.scalars(select(ClinicSentimentModel).options(defer(ClinicSentimentModel.content))
                                   .order_by(ClinicSentimentModel.id.desc()).limit(limit)))


def clinic_scorer() -> SentimentModel:
    """The model that scores the current clinic's texts: its own active model, else the default."""
    tenant_id = require_tenant_id()
    model_id = db.session.scalar(select(ClinicSentimentModel.id).where(ClinicSentimentModel.active.is_(True))
                                 .order_by(ClinicSentimentModel.id.desc()))
    if model_id is None:
        return default_model()
    key = (tenant_id, model_id)
    model = _loaded.get(key)
    if model is None:
        content = db.session.scalar(select(ClinicSentimentModel.content).where(ClinicSentimentModel.id == model_id))
        model = SentimentModel.from_bytes(content, f"clinic model {model_id}")
        if len(_loaded) >= 32:
            _loaded.clear()  # a worker serving many clinics keeps only recent ones
        _loaded[key] = model
    return model
