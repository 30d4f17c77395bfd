"""Sentiment and aspect-tagging throughput, against TextBlob polarity measured in the same run.

Texts: the shared labelled corpora when present (``VERNOST_SHARED_DATA`` or
``../shared/data`` beside the repository; up to ``--per-corpus`` texts from each
file, so long Russian reviews, short posts and short patient comments), otherwise
generated clinic reviews. Runs:

1. baseline: ``TextBlob(text).sentiment.polarity`` over every text, one process;
2. the product scorer (shipped default model), one process, first pass (cold
   lemma cache) and second pass (warm);
3. the product scorer in ``--workers`` processes (warm), the way RQ workers run it;
4. a trained model (trained here on a few thousand texts, only for timing), warm;
5. aspect tagging, one process, warm.

Prints texts/s for each and the product/baseline ratio.

    python bench/bench_sentiment.py [--per-corpus 3000] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.nlp.sentiment import SentimentModel, default_model  # noqa: E402
from app.nlp.topics import tag_aspects  # noqa: E402

CORPORA = (
    "ru_sentirueval2015_reviews_train.jsonl",
    "ru_rusentiment_train.jsonl",
    "en_nhs_patient_feedback_train.jsonl",
)
PHRASES = (
    "Врач очень внимательный, всё подробно объяснила",
    "в регистратуре нахамили",
    "ждали приёма больше часа",
    "цены завышены",
    "в клинике чисто и уютно",
    "анализы сделали быстро",
    "The nurses were lovely",
    "we waited two hours",
    "receptionist was rude",
    "could not get through on the phone",
    "excellent treatment, thank you",
)


def shared_dir() -> Path:
    """Directory of the shared labelled corpora (outside the repository)."""
    base = os.environ.get("VERNOST_SHARED_DATA")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root / "sentiment"


def load_texts(per_corpus: int) -> tuple[list[str], list[str], str]:
    """(texts, labels, source description); labels are empty for generated texts."""
    directory = shared_dir()
    texts, labels = [], []
    if directory.is_dir():
        for name in CORPORA:
            path = directory / name
            if not path.exists():
                continue
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            for row in rows[:per_corpus]:
                texts.append(row["text"])
                labels.append(row["label"])
        if texts:
            return texts, labels, f"shared corpora, up to {per_corpus} texts per file"
    rng = random.Random(7)
    generated = [", ".join(rng.sample(PHRASES, rng.randint(1, 4))) + "." for _ in range(per_corpus * 2)]
    return generated, [], "generated clinic reviews"


def rate(function, texts: list[str]) -> float:
    """Texts per second of one call of function(texts)."""
    started = time.perf_counter()
    function(texts)
    return len(texts) / (time.perf_counter() - started)


def textblob_polarity(texts: list[str]) -> None:
    """Baseline: TextBlob's built-in polarity of every text."""
    from textblob import TextBlob

    for text in texts:
        TextBlob(text).sentiment.polarity


def product_scores(texts: list[str]) -> None:
    """The product scorer (default model) over all texts."""
    default_model().predict(texts)


def tag_all(texts: list[str]) -> None:
    """Aspect tagging of every text."""
    for text in texts:
        tag_aspects(text)


_FORKED_TEXTS: list[str] = []


def _score_slice(bounds: tuple[int, int]) -> int:
    # Workers are forked after the texts are set, so only slice bounds cross the pipe.
    start, end = bounds
    default_model().predict(_FORKED_TEXTS[start:end])
    return end - start


def parallel_rate(texts: list[str], workers: int) -> float:
    """Warm texts/s of the default scorer in a pool of forked worker processes."""
    global _FORKED_TEXTS
    _FORKED_TEXTS = texts
    size = max(1, len(texts) // (workers * 4))
    slices = [(start, min(start + size, len(texts))) for start in range(0, len(texts), size)]
    with get_context("fork").Pool(workers) as pool:
        pool.map(_score_slice, slices)  # warm up the workers
        started = time.perf_counter()
        pool.map(_score_slice, slices)
        return len(texts) / (time.perf_counter() - started)


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-corpus", type=int, default=3000, help="texts taken from each corpus file")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    options = parser.parse_args()

    texts, labels, source = load_texts(options.per_corpus)
    results = {"texts": len(texts), "source": source, "mean_chars": round(sum(map(len, texts)) / len(texts))}
    textblob_polarity(texts[:50])  # load TextBlob's lexicon before timing
    results["baseline_textblob_per_s"] = rate(textblob_polarity, texts)
    results["product_cold_per_s"] = rate(product_scores, texts)
    results["product_warm_per_s"] = rate(product_scores, texts)
    results["product_workers"] = options.workers
    results["product_parallel_per_s"] = parallel_rate(texts, options.workers)
    if labels and len(set(labels)) > 1:
        train = texts[::3][:3000]
        model = SentimentModel().train(train, labels[::3][:3000])
        model.predict(texts)
        results["trained_warm_per_s"] = rate(model.predict, texts)
    tag_all(texts)
    results["aspects_warm_per_s"] = rate(tag_all, texts)
    results["product_vs_baseline"] = results["product_warm_per_s"] / results["baseline_textblob_per_s"]
    results["parallel_vs_baseline"] = results["product_parallel_per_s"] / results["baseline_textblob_per_s"]

    if options.json:
        print(json.dumps({key: round(value, 2) if isinstance(value, float) else value
                          for key, value in results.items()}))
        return
    print(f"texts: {results['texts']} ({results['source']}), mean length {results['mean_chars']} chars")
    print(f"baseline TextBlob polarity:      {results['baseline_textblob_per_s']:9.0f} texts/s")
    print(f"product scorer, cold cache:      {results['product_cold_per_s']:9.0f} texts/s")
    print(f"product scorer, warm:            {results['product_warm_per_s']:9.0f} texts/s")
    print(f"product scorer, {options.workers} processes:     {results['product_parallel_per_s']:9.0f} texts/s")
    if "trained_warm_per_s" in results:
        print(f"trained model, warm:             {results['trained_warm_per_s']:9.0f} texts/s")
    print(f"aspect tagging, warm:            {results['aspects_warm_per_s']:9.0f} texts/s")
    print(f"product/baseline ratio:          {results['product_vs_baseline']:9.2f}x "
          f"({results['parallel_vs_baseline']:.2f}x with {options.workers} processes)")


if __name__ == "__main__":
    main()
