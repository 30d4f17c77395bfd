"""Sentiment analyser: rules, persistence, the CLI, and measured quality on held-out labelled texts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from flask import Flask

from app.nlp.cli import sentiment_cli
from app.nlp.lang import detect_language
from app.nlp.sentiment import (
    DEFAULT_MODEL_PATH,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    Scored,
    SentimentModel,
    default_model,
    evaluate_model,
    label_from_rating,
    labels_contradict,
    macro_report,
    rating_contradicts_text,
    review_label,
    score_text,
)
from tests.conftest import SENTIMENT_DATA, needs_sentiment_data




def read_corpus(name: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (SENTIMENT_DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["text"] for row in rows], [row["label"] for row in rows]


def stratified_folds(labels, folds=5, seed=13):
    """Deterministic stratified folds: a list of `folds` lists of row indexes, each class dealt round-robin."""
    rng = random.Random(seed)
    assigned = [[] for _ in range(folds)]
    for label in sorted(set(labels)):
        indexes = [i for i, item in enumerate(labels) if item == label]
        rng.shuffle(indexes)
        for position, index in enumerate(indexes):
            assigned[position % folds].append(index)
    return [sorted(fold) for fold in assigned]


# ----------------------------------------------------------------------------- hand-written examples

RUSSIAN_EXAMPLES = [
    ("Врач очень внимательный, всё подробно объяснила, спасибо!", POSITIVE),
    ("Отличная клиника, рекомендую всем", POSITIVE),
    ("Администратор нахамила, больше ни ногой", NEGATIVE),
    ("Ужасное отношение, прождали два часа", NEGATIVE),
    ("Не понравилось, не советую", NEGATIVE),
    ("Персонал неприветливый и равнодушный", NEGATIVE),
    ("Проблем не было, всё быстро", POSITIVE),
    ("Приём был во вторник в 10 утра.", NEUTRAL),
    ("Всё супер))))", POSITIVE),
    ("Сервис оставляет желать лучшего", NEGATIVE),
    ("Деньги на ветер, никому не советую", NEGATIVE),
    ("Обслуживание выше всяких похвал", POSITIVE),
    ("Медсестра халатно отнеслась к анализам", NEGATIVE),
    ("Обсчитали на кассе", NEGATIVE),
]
ENGLISH_EXAMPLES = [
    ("The nurses were lovely and very caring", POSITIVE),
    ("Receptionist was rude and unhelpful", NEGATIVE),
    ("Nothing.", POSITIVE),
    ("Nothing to improve, keep up the good work", POSITIVE),
    ("I was not happy with the way I was treated", NEGATIVE),
    ("The doctor was not very helpful", NEGATIVE),
    ("Appointment on Tuesday at 10am.", NEUTRAL),
    ("Could not fault the care I received", POSITIVE),
    ("Communication could be better", NEGATIVE),
    ("Kept waiting for hours with no explanation", NEGATIVE),
    ("The cancer team were brilliant", POSITIVE),
    ("Nothing was too much trouble", POSITIVE),
]


@pytest.mark.parametrize("text,label", RUSSIAN_EXAMPLES + ENGLISH_EXAMPLES)
def test_default_model_labels_clear_examples(text, label):
    scored = score_text(text)
    assert isinstance(scored, Scored)
    assert scored.label == label, (text, scored)
    assert -1.0 <= scored.polarity <= 1.0


@pytest.mark.parametrize("name", ["ru_seed.tsv", "ru_general.tsv", "en_seed.tsv", "en_feedback.tsv"])
def test_shipped_lexicon_files_are_well_formed(name):
    from app.nlp.lang import lemmatize, tokenize
    from app.nlp.sentiment import CONTRASTS, LEXICON_DIR, NEGATIONS, _read_tsv

    path = LEXICON_DIR / name
    assert "Original work of the Vernost project" in path.read_text(encoding="utf-8")[:400]
    seen: dict = {}
    for entry, valence in _read_tsv(path):
        assert -4.0 <= valence <= 4.0, entry
        key = tuple(lemmatize(token) for token in tokenize(entry))
        assert key, entry
        # Two spellings of one lemma ("замечательно" / "замечательный") may repeat it, never contradict it.
        assert seen.get(key, (entry, valence))[1] == valence, f"{entry!r} contradicts {seen[key][0]!r}"
        seen[key] = (entry, valence)
        if len(key) == 1:
            # Negations and contrasts are handled by the analyser and never carry a value of their own.
            assert key[0] not in NEGATIONS | CONTRASTS, entry
    assert len(seen) > 100


def test_polarity_sign_follows_label_and_negation_flips():
    assert score_text("хороший врач").polarity > 0
    assert score_text("не хороший врач").polarity < 0
    assert score_text("good doctor").polarity > 0
    assert score_text("not a good doctor").polarity < 0
    assert score_text("").label == NEUTRAL and score_text("").polarity == 0.0


def test_clause_after_but_weighs_more():
    assert score_text("Врач хороший, но в регистратуре хамят").label == NEGATIVE
    assert score_text("The wait was long but the doctor was excellent").label == POSITIVE


def test_very_mixed_text_is_neutral():
    assert score_text("Врач отличный. Администратор ужасный.").label == NEUTRAL


def test_language_detection():
    assert detect_language("Врач был очень внимателен") == "ru"
    assert detect_language("The doctor was very kind") == "en"
    assert detect_language("Лекарят беше много внимателен и това ми хареса") == "bg"
    assert detect_language("Лікар був дуже уважний, дякую") == "other"
    assert detect_language("Der Arzt war sehr freundlich, wir wären gern länger geblieben") == "other"
    assert detect_language("12345 !!!") == "other"
    assert detect_language("") == "other"


# ----------------------------------------------------------------------------- ratings


@pytest.mark.parametrize(
    "stars,label",
    [(0, NEGATIVE), (1, NEGATIVE), (2, NEGATIVE), (3, NEUTRAL), (4, POSITIVE), (5, POSITIVE), (4.5, POSITIVE),
     (2.4, NEGATIVE), (None, None)],
)
def test_label_from_rating(stars, label):
    assert label_from_rating(stars) == label


def test_label_from_rating_rejects_out_of_scale():
    with pytest.raises(ValueError):
        label_from_rating(6)
    with pytest.raises(ValueError):
        label_from_rating(-1)


def test_contradiction_between_rating_and_text():
    assert rating_contradicts_text(5, "Ужасная клиника, хамство и грязь")
    assert rating_contradicts_text(1, "Excellent care, the staff were wonderful")
    assert not rating_contradicts_text(5, "Отличный врач, спасибо")
    assert not rating_contradicts_text(3, "Ужасная клиника")  # neutral never contradicts
    assert not rating_contradicts_text(None, "Ужасная клиника")
    assert rating_contradicts_text(5, Scored(NEGATIVE, -0.8))
    assert labels_contradict(POSITIVE, NEGATIVE) and not labels_contradict(NEUTRAL, NEGATIVE)


def test_rating_is_the_truth_for_a_review_label():
    scored = review_label(5, "Ужасная клиника")
    assert scored.label == POSITIVE and scored.polarity < 0
    assert review_label(None, "Ужасная клиника").label == NEGATIVE


# ----------------------------------------------------------------------------- training and persistence

TOY_TRAINING = [
    ("great doctor, thank you", POSITIVE),
    ("wonderful nurses, very kind", POSITIVE),
    ("отличный врач, спасибо", POSITIVE),
    ("очень довольна приёмом", POSITIVE),
    ("rude receptionist, awful", NEGATIVE),
    ("waited hours, terrible service", NEGATIVE),
    ("хамство в регистратуре", NEGATIVE),
    ("ужасно, больше не приду", NEGATIVE),
    ("appointment on monday", NEUTRAL),
    ("приём в среду", NEUTRAL),
    ("parking is across the road", NEUTRAL),
    ("кабинет на втором этаже", NEUTRAL),
] * 3


def test_train_save_load_roundtrip(tmp_path):
    texts, labels = zip(*TOY_TRAINING)
    model = SentimentModel().train(list(texts), list(labels), min_count=1)
    assert model.trained
    path = model.save(tmp_path / "clinic_model")
    assert path.suffix == ".npz"
    loaded = SentimentModel.load(path)
    probe = ["great doctor", "rude receptionist", "кабинет на втором этаже", "хамство"]
    assert [s.label for s in loaded.predict(probe)] == [s.label for s in model.predict(probe)]
    assert [s.polarity for s in loaded.predict(probe)] == pytest.approx([s.polarity for s in model.predict(probe)])
    assert loaded.predict(["great doctor"])[0].label == POSITIVE
    assert loaded.predict(["хамство"])[0].label == NEGATIVE
    assert loaded.predict([]) == []


def test_training_rejects_bad_labels():
    with pytest.raises(ValueError):
        SentimentModel().train(["a", "b"], ["good", "bad"])
    with pytest.raises(ValueError):
        SentimentModel().train(["a", "b"], [POSITIVE, POSITIVE])
    with pytest.raises(ValueError):
        SentimentModel().train(["a"], [POSITIVE, NEGATIVE])


def test_load_refuses_foreign_file(tmp_path):
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(ValueError):
        SentimentModel.load(foreign)


def test_shipped_default_is_small_portable_and_lexicon_only():
    assert DEFAULT_MODEL_PATH.exists()
    assert DEFAULT_MODEL_PATH.stat().st_size < 3_000_000
    assert json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))["kind"] == "lexicon"
    assert not default_model().trained


def test_config_key_selects_model(tmp_path):
    texts, labels = zip(*TOY_TRAINING)
    path = SentimentModel().train(list(texts), list(labels), min_count=1).save(tmp_path / "m.npz")
    app = Flask(__name__)
    app.config["SENTIMENT_MODEL_PATH"] = str(path)
    with app.app_context():
        assert default_model().trained
    assert not default_model().trained


def test_macro_report_counts_missing_class_as_zero():
    report = macro_report([POSITIVE, NEGATIVE, NEUTRAL, POSITIVE], [POSITIVE, POSITIVE, NEUTRAL, POSITIVE])
    assert report["accuracy"] == 0.75
    assert report["per_class"][NEGATIVE]["f1"] == 0.0
    assert report["macro_f1"] == pytest.approx((0.0 + 1.0 + 0.8) / 3)


# ----------------------------------------------------------------------------- CLI


def cli_runner():
    app = Flask(__name__)
    app.cli.add_command(sentiment_cli)
    return app.test_cli_runner()


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    return path


def test_cli_train_then_evaluate(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": l} for t, l in TOY_TRAINING])
    runner = cli_runner()
    result = runner.invoke(args=["sentiment", "train", "--data", str(data), "--out", str(tmp_path / "clinic.npz")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clinic.npz").exists()
    result = runner.invoke(
        args=["sentiment", "evaluate", "--data", str(data), "--model", str(tmp_path / "clinic.npz")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-2].startswith("accuracy: ")
    assert lines[-1].startswith("macro-F1: ")
    assert float(lines[-1].split(":")[1]) > 0.9
    assert any(line.startswith("negative") for line in lines)


def test_cli_evaluate_default_model_and_ratings(tmp_path):
    data = write_jsonl(
        tmp_path / "rated.jsonl",
        [{"text": "Отличный врач, спасибо", "rating": 5}, {"text": "Ужасное хамство", "rating": 1},
         {"text": "Excellent care", "label": "positive"}],
    )
    result = cli_runner().invoke(args=["sentiment", "evaluate", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "default_sentiment.json" in result.output
    assert result.output.strip().splitlines()[-1] == "macro-F1: 1.000"


def test_cli_evaluate_uses_configured_model(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": l} for t, l in TOY_TRAINING])
    model_path = SentimentModel().train(*zip(*TOY_TRAINING), min_count=1).save(tmp_path / "configured.npz")
    app = Flask(__name__)
    app.config["SENTIMENT_MODEL_PATH"] = str(model_path)
    app.cli.add_command(sentiment_cli)
    result = app.test_cli_runner().invoke(args=["sentiment", "evaluate", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "configured.npz (trained)" in result.output


def test_cli_reports_bad_lines(tmp_path):
    data = write_jsonl(tmp_path / "bad.jsonl", [{"text": "x", "label": "great"}])
    result = cli_runner().invoke(args=["sentiment", "evaluate", "--data", str(data)])
    assert result.exit_code != 0
    assert "bad.jsonl:1" in result.output


# ----------------------------------------------------------------------------- measured quality
# Floors sit a little under the figures reported in docs/sentiment.md, so a
# regression fails while run-to-run noise does not.

DEFAULT_FLOORS = {
    "ru_sentirueval2015_reviews_train.jsonl": 0.62,  # measured 0.652
    "en_nhs_patient_feedback_train.jsonl": 0.56,  # measured 0.587
    "ru_rusentiment_train.jsonl": 0.53,  # measured 0.567 on every fourth post
}
# The trained method, cross-validated: every fold is scored by a model trained
# on the other folds only. Floors are on the mean macro-F1 over the folds.
TRAINED_CV = {
    # name: (folds, floor)
    "ru_sentirueval2015_reviews_train.jsonl": (5, 0.63),  # measured 0.660 on these folds (0.681 ± 0.063 in 2x5-fold CV)
    "en_nhs_patient_feedback_train.jsonl": (3, 0.66),  # measured 0.687 on these folds (0.688 ± 0.025 in 2x5-fold CV)
}


@needs_sentiment_data
@pytest.mark.parametrize("name", sorted(DEFAULT_FLOORS))
def test_shipped_default_quality(name):
    # The default never saw these texts, so the whole file is held out for it.
    texts, labels = read_corpus(name)
    if name.startswith("ru_rusentiment"):
        texts, labels = texts[::4], labels[::4]  # a quarter keeps the test fast
    report = evaluate_model(default_model(), texts, labels)
    assert report["macro_f1"] >= DEFAULT_FLOORS[name], report


@needs_sentiment_data
@pytest.mark.parametrize("name", sorted(TRAINED_CV))
def test_in_domain_training_quality_cross_validated(name):
    texts, labels = read_corpus(name)
    fold_count, floor = TRAINED_CV[name]
    scores = []
    for held_out in stratified_folds(labels, fold_count):
        held = set(held_out)
        train = [i for i in range(len(texts)) if i not in held]
        assert not held & set(train)
        model = SentimentModel().train([texts[i] for i in train], [labels[i] for i in train])
        report = evaluate_model(model, [texts[i] for i in held_out], [labels[i] for i in held_out])
        scores.append(report["macro_f1"])
    mean = sum(scores) / len(scores)
    print(f"{name}: {fold_count}-fold macro-F1 {mean:.3f} ({', '.join(f'{s:.3f}' for s in scores)})")
    assert mean >= floor, scores


def test_general_english_lexicon_is_installed():
    from app.nlp.sentiment import _vader_lexicon_path

    assert _vader_lexicon_path() is not None, (
        "the vaderSentiment package (MIT) supplies the general English lexicon; install it "
        "(it is a project dependency) or English macro-F1 drops sharply"
    )
