"""`flask sentiment train|evaluate`: train a clinic's own sentiment model and measure any model.

Neither command touches the database; both read JSON Lines files whose lines
carry ``text`` and either ``label`` (negative/neutral/positive) or a star
``rating`` (0–5, turned into a label with label_from_rating).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from flask.cli import AppGroup

from app.nlp.sentiment import (
    LABELS,
    SentimentModel,
    configured_model_path,
    evaluate_model,
    label_from_rating,
)

sentiment_cli = AppGroup("sentiment", help="Train and evaluate the review/comment sentiment model.")


def read_labelled_jsonl(path: str | Path) -> tuple[list[str], list[str]]:
    """Read (texts, labels) from a JSON Lines file; lines without text or label are an error."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise click.ClickException(f"{path}:{number}: not JSON ({error.msg})") from error
            text = row.get("text")
            label = row.get("label")
            if label is None and row.get("rating") is not None:
                label = label_from_rating(row["rating"])
            if not isinstance(text, str) or label not in LABELS:
                raise click.ClickException(
                    f"{path}:{number}: needs a string 'text' and a 'label' in {', '.join(LABELS)} (or a 'rating')"
                )
            texts.append(text)
            labels.append(label)
    if not texts:
        raise click.ClickException(f"{path}: no labelled lines")
    return texts, labels


def format_report(report: dict) -> list[str]:
    """Lines of an evaluation report: per-class table first, accuracy and macro-F1 last."""
    lines = [f"texts: {report['count']}", f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"]
    for label, figures in report["per_class"].items():
        lines.append(
            f"{label:<10} {figures['precision']:>9.3f} {figures['recall']:>7.3f} {figures['f1']:>6.3f} "
            f"{figures['support']:>8d}"
        )
    lines.append(f"accuracy: {report['accuracy']:.3f}")
    lines.append(f"macro-F1: {report['macro_f1']:.3f}")
    return lines


@sentiment_cli.command("train")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON Lines with 'text' and 'label' (or 'rating').")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the model (.npz).")
@click.option("--char-ngrams", default=0, show_default=True, type=click.IntRange(0, 6),
              help="Longest word-internal character n-gram, e.g. 4 (0: none; see docs/sentiment.md).")
@click.option("--regularisation", default=4.0, show_default=True, type=click.FloatRange(min=1e-4),
              help="Inverse regularisation strength C of the logistic regression.")
def train_command(data_path: str, out_path: str, char_ngrams: int, regularisation: float) -> None:
    """Train a sentiment model on a clinic's labelled texts and save it."""
    texts, labels = read_labelled_jsonl(data_path)
    started = time.perf_counter()
    try:
        model = SentimentModel().train(texts, labels, char_ngrams=char_ngrams, regularisation=regularisation)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    written = model.save(out_path)
    counts = ", ".join(f"{label} {labels.count(label)}" for label in LABELS)
    click.echo(f"trained on {len(texts)} texts ({counts}) in {time.perf_counter() - started:.1f} s")
    click.echo(f"model written to {written}")


@sentiment_cli.command("evaluate")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON Lines with 'text' and 'label' (or 'rating').")
@click.option("--model", "model_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Model file; default: SENTIMENT_MODEL_PATH from the config, else the shipped default.")
def evaluate_command(data_path: str, model_path: str | None) -> None:
    """Print per-class precision/recall/F1, then accuracy and macro-F1 on the last two lines."""
    texts, labels = read_labelled_jsonl(data_path)
    path = Path(model_path) if model_path else configured_model_path()
    try:
        model = SentimentModel.load(path)
    except (OSError, ValueError, KeyError) as error:
        raise click.ClickException(f"cannot load model {path}: {error}") from error
    started = time.perf_counter()
    report = evaluate_model(model, texts, labels)
    elapsed = time.perf_counter() - started
    click.echo(f"model: {path.name} ({'trained' if model.trained else 'lexicon'})")
    click.echo(f"speed: {len(texts) / elapsed:.0f} texts/s")
    for line in format_report(report):
        click.echo(line)
