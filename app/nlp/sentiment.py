"""Offline sentiment for reviews and patient comments, in Russian and English.

Two layers share one text analysis:

* a lexicon scorer (our own Russian and English seed lexicons, plus the VADER
  English lexicon when the ``vaderSentiment`` package is installed) with
  negation, intensifiers and "but"-clauses; this is the shipped default and
  needs no training data;
* an optional linear classifier (logistic regression over lemma uni/bigrams
  plus the lexicon scores) that a clinic trains on its own labelled reviews.

Both give a label (negative/neutral/positive) and a polarity in [-1, 1].
Models are stored as JSON (lexicon settings) or NumPy ``.npz`` (trained
weights), never pickle, so a model file cannot run code and does not depend on
the scikit-learn version that trained it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from app.nlp.lang import LANG_OTHER, detect_language, lemmatize, tokenize

logger = logging.getLogger(__name__)

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)

NLP_DIR = Path(__file__).resolve().parent
LEXICON_DIR = NLP_DIR / "lexicons"
MODEL_DIR = NLP_DIR / "models"
DEFAULT_MODEL_PATH = MODEL_DIR / "default_sentiment.json"
MODEL_FORMAT = "vernost-sentiment"
MODEL_FORMAT_VERSION = 1

NEGATIONS = frozenset(
    "не нет ни без никогда ничуть отнюдь нисколько "
    "not no never without neither nor hardly barely cannot cant dont didnt doesnt "
    "isnt wasnt werent arent wont wouldnt couldnt shouldnt havent hasnt hadnt aint".split()
)
INTENSIFIERS = {
    **dict.fromkeys(
        "очень весьма крайне чрезвычайно невероятно максимально абсолютно совершенно "
        "самый супер безумно жутко ужасно особенно просто реально действительно "
        "very really extremely so absolutely incredibly truly super highly totally "
        "most particularly exceptionally utterly".split(),
        1.3,
    ),
    **dict.fromkeys(
        "немного немножко слегка чуть чуть-чуть довольно несколько "
        "slightly somewhat fairly bit little quite rather".split(),
        0.7,
    ),
}
# Russian verbs of being after which "не" negates the preceding noun ("жалоб не возникло").
STATE_VERBS = frozenset("быть возникнуть возникать случиться случаться оказаться наблюдаться".split())
# "But"-type words: the clause after them is the one that counts. ("Although"
# works the other way round and is left alone.)
CONTRASTS = frozenset("но однако зато but however yet".split())
# How far (in tokens) a negation or intensifier reaches forward.
MODIFIER_REACH = 3
NEGATION_FACTOR = -0.74
# People use positive words more often than negative ones, so a negative word
# carries more information; SO-CAL (Taboada et al., 2011) weights negatives x1.5.
NEGATIVE_WEIGHT = 1.5
# Words that, opening a short answer, mean "nothing to improve": on a
# questionnaire that asks what to improve, "Nothing." is praise.
NOTHING_WORDS = frozenset("nothing none nope nil no ничего нечего нет".split())
NOTHING_FILLERS = frozenset(
    "to improve change changed changing improved improvement better else really at all i can "
    "think of could would be do the it that for me needs need you anything everything was is "
    "were fine good great perfect as just thanks thank keep up work same "
    "менять поменять изменить улучшать улучшить добавить не нужно надо все всё хорошо так "
    "отлично спасибо я бы можно".split()
)
NOTHING_VALUE = 2.0

EMOTICONS = {
    ":)": 1.6, ":-)": 1.6, "=)": 1.5, ":]": 1.4, ":d": 2.0, ":-d": 2.0, ";)": 1.2, ";-)": 1.2,
    ":p": 0.8, ":(": -1.8, ":-(": -1.8, "=(": -1.7, ":[": -1.6,
    "👍": 2.0, "👏": 2.0, "🙏": 1.6, "❤": 2.4, "😊": 2.0, "😀": 2.0, "😃": 2.0, "😄": 2.0,
    "😁": 2.0, "🙂": 1.4, "😍": 2.8, "🥰": 2.8, "😘": 2.0, "🤗": 2.0, "🌹": 1.6, "💐": 1.8,
    "🔥": 1.2, "✨": 1.0, "⭐": 1.4, "🌟": 1.6, "💯": 2.0, "✅": 0.8,
    "👎": -2.0, "😡": -2.8, "😠": -2.6, "🤬": -3.0, "😢": -2.0, "😭": -2.2, "😞": -2.0,
    "😔": -1.8, "🙁": -1.6, "☹": -1.8, "😤": -2.0, "🤮": -3.0, "🤢": -2.6, "💩": -2.6,
    "😒": -1.6, "😩": -2.0, "😫": -2.0, "😱": -1.6,
}


@dataclass(frozen=True)
class Scored:
    """Sentiment of one text: a label and a polarity in [-1, 1]."""

    label: str
    polarity: float


@dataclass(frozen=True)
class LexiconSettings:
    """Thresholds that turn lexicon sums into a label.

    A text is neutral when it has no sentiment words, when its polarity is
    within ``neutral_band`` of zero, or when its positive and negative sums are
    both present and the smaller is at least ``mixed_ratio`` of the larger
    (a mixed review).
    """

    neutral_band: float = 0.05
    mixed_ratio: float = 0.6
    # polarity = sum / sqrt(sum² + saturation): a larger value saturates later.
    saturation: float = 15.0

    def to_dict(self) -> dict:
        """Return the settings as a plain dict for a model file."""
        return {"neutral_band": self.neutral_band, "mixed_ratio": self.mixed_ratio, "saturation": self.saturation}


# --------------------------------------------------------------------------- lexicon


@dataclass
class Lexicon:
    """Word and phrase valences keyed by lemma; phrases are keyed by their first lemma."""

    words: dict
    phrases: dict  # first lemma -> list of (tuple of lemmas, valence), longest first

    def add(self, entry: str, valence: float) -> None:
        """Add (or override) one word or multi-word phrase, lemmatising each word."""
        lemmas = tuple(lemmatize(token) for token in tokenize(entry))
        if not lemmas:
            return
        if len(lemmas) == 1:
            self.words[lemmas[0]] = valence
            return
        bucket = [item for item in self.phrases.get(lemmas[0], []) if item[0] != lemmas]
        bucket.append((lemmas, valence))
        bucket.sort(key=lambda item: -len(item[0]))
        self.phrases[lemmas[0]] = bucket


def _read_tsv(path: Path) -> Iterable[tuple[str, float]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            entry, _, value = line.partition("\t")
            yield entry, float(value.split("\t")[0])


def _vader_lexicon_path() -> Path | None:
    """Locate the VADER lexicon (MIT licence) inside the installed vaderSentiment package."""
    try:
        import vaderSentiment
    except ImportError:
        return None
    path = Path(vaderSentiment.__file__).resolve().parent / "vader_lexicon.txt"
    return path if path.exists() else None


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """Build the product lexicon once: VADER English, then our own EN and RU lists, then emoticons."""
    lexicon = Lexicon(words={}, phrases={})
    vader_path = _vader_lexicon_path()
    if vader_path is None:
        # English still works from our seed lexicon, but misses most general words.
        logger.warning("vaderSentiment is not installed: English sentiment uses the small seed lexicon only")
    else:
        for entry, valence in _read_tsv(vader_path):
            # VADER's own emoticons are replaced by ours; keep its words only.
            if entry[:1].isalpha():
                lexicon.words[entry.lower()] = valence
    # General lists first, then the seeds, whose hand-tuned values win where both have a word.
    for name in ("en_feedback.tsv", "en_seed.tsv", "ru_general.tsv", "ru_seed.tsv"):
        for entry, valence in _read_tsv(LEXICON_DIR / name):
            lexicon.add(entry, valence)
    lexicon.words.update(EMOTICONS)
    # Intensifiers keep their own valence ("ужасно" alone is negative); see analyse().
    for word in NEGATIONS | CONTRASTS:
        lexicon.words.pop(word, None)
    return lexicon


# --------------------------------------------------------------------------- analysis


@dataclass
class Analysis:
    """A text reduced to lemmas, split into clauses, with its lexicon sums."""

    language: str | None  # as given by the caller; not detected here, to keep scoring fast
    lemmas: list  # word/emoticon lemmas, in order, without punctuation
    clause_ids: list  # clause number for each lemma
    sentence_ids: list  # sentence number for each lemma
    contributions: list  # signed lexicon contribution of each lemma (0.0 if none)

    @property
    def positive_sum(self) -> float:
        """Sum of the positive contributions."""
        return sum(value for value in self.contributions if value > 0)

    @property
    def negative_sum(self) -> float:
        """Sum of the negative contributions, as a positive number."""
        return -sum(value for value in self.contributions if value < 0)


_PUNCTUATION_CHARS = frozenset(".!?;…,:\u2014\u2013")
_SENTENCE_END_CHARS = frozenset(".!?;…")
SENTENCE_BREAK, CLAUSE_BREAK = ".", ","


@lru_cache(maxsize=300_000)
def token_lemma(token: str) -> str:
    """Lemma of a word token, the canonical emoticon for ")))"/"(((", or "." / "," for sentence / clause punctuation."""
    if all(char in _PUNCTUATION_CHARS for char in token):
        return SENTENCE_BREAK if any(char in _SENTENCE_END_CHARS for char in token) else CLAUSE_BREAK
    if token.startswith(")") and len(token) > 1:
        return ":)"
    if token.startswith("(") and len(token) > 1:
        return ":("
    return lemmatize(token).replace("’", "'")


def _negation_like(lemma: str) -> bool:
    return lemma in NEGATIONS or lemma.endswith("n't")


def analyse(text: str, language: str | None = None, lexicon: Lexicon | None = None) -> Analysis:
    """Tokenise, lemmatise and score a text against the lexicon.

    Negations flip (and damp) the next sentiment word within three tokens,
    intensifiers scale it, and a contrast word ("но", "but") halves what came
    before it in the sentence and boosts what follows, as readers weigh the part
    after "but" more.
    """
    lexicon = lexicon or default_lexicon()
    words, phrases = lexicon.words, lexicon.phrases
    lemmas: list = []
    clause_ids: list = []
    sentence_ids: list = []
    contributions: list = []
    clause = 0
    sentence = 0
    sentence_start = 0
    after_contrast = 1.0
    negate_until = -1
    boost, boost_until = 1.0, -1
    normalised = [token_lemma(token) for token in tokenize(text)]
    index = 0
    count = len(normalised)
    while index < count:
        lemma = normalised[index]
        index += 1
        if lemma == CLAUSE_BREAK or lemma == SENTENCE_BREAK:
            # Punctuation closes a clause (and the reach of a negation or an
            # intensifier); sentence ends also close a contrast.
            clause += 1
            negate_until = boost_until = -1
            if lemma == SENTENCE_BREAK:
                sentence += 1
                sentence_start = len(lemmas)
                after_contrast = 1.0
            continue
        position = len(lemmas)
        lemmas.append(lemma)
        clause_ids.append(clause)
        sentence_ids.append(sentence)
        if _negation_like(lemma):
            contributions.append(0.0)
            if lemma == "нет" or (lemma == "не" and index < count and normalised[index] in STATE_VERBS):
                # "Проблем не было", "претензий нет": the negation follows the word it negates.
                for back in (position - 1, position - 2):
                    if back >= 0 and clause_ids[back] == clause and contributions[back] < 0:
                        contributions[back] *= NEGATION_FACTOR
                        break
            # "не" before a phrase that starts with "не" is handled by the phrase itself.
            negate_until = position + MODIFIER_REACH
            if lemma in phrases:
                matched = _match_phrase(phrases[lemma], normalised, index - 1)
                if matched:
                    width, valence = matched
                    contributions[-1] = valence * after_contrast
                    for extra in normalised[index:index + width - 1]:
                        lemmas.append(extra)
                        clause_ids.append(clause)
                        sentence_ids.append(sentence)
                        contributions.append(0.0)
                    index += width - 1
                    negate_until = -1
            continue
        if lemma in INTENSIFIERS and (
            lemma not in words or (index < count and words.get(normalised[index], 0.0) != 0.0)
        ):
            contributions.append(0.0)
            boost, boost_until = INTENSIFIERS[lemma], position + MODIFIER_REACH
            continue
        if lemma in CONTRASTS:
            contributions.append(0.0)
            for earlier in range(sentence_start, position):
                contributions[earlier] *= 0.5
            after_contrast = 1.5
            clause += 1
            clause_ids[-1] = clause
            continue
        valence = 0.0
        width = 1
        if lemma in phrases:
            matched = _match_phrase(phrases[lemma], normalised, index - 1)
            if matched:
                width, valence = matched
        if width == 1:
            valence = words.get(lemma, 0.0)
            if valence == 0.0 and lemma.startswith("не") and len(lemma) > 4:
                # Fused Russian negation: "неприветливый" is the opposite of "приветливый".
                valence = NEGATION_FACTOR * words.get(lemma[2:], 0.0)
        if valence:
            if position <= boost_until:
                valence *= boost
            if position <= negate_until:
                valence *= NEGATION_FACTOR
            valence *= after_contrast
            if valence < 0:
                valence *= NEGATIVE_WEIGHT
        contributions.append(valence)
        for extra in normalised[index:index + width - 1]:
            lemmas.append(extra)
            clause_ids.append(clause)
            sentence_ids.append(sentence)
            contributions.append(0.0)
        index += width - 1
    _apply_nothing_rule(lemmas, clause_ids, contributions)
    return Analysis(
        language=language,
        lemmas=lemmas,
        clause_ids=clause_ids,
        sentence_ids=sentence_ids,
        contributions=contributions,
    )


def _match_phrase(candidates: list, normalised: list, start: int):
    for phrase, valence in candidates:
        end = start + len(phrase)
        if tuple(normalised[start:end]) == phrase:
            return len(phrase), valence
    return None


def _apply_nothing_rule(lemmas: list, clause_ids: list, contributions: list) -> None:
    """Score a short "Nothing (to improve)" answer as praise rather than as a negation."""
    if not lemmas or lemmas[0] not in NOTHING_WORDS or len(lemmas) > 12:
        return
    first_clause = [i for i, clause in enumerate(clause_ids) if clause == clause_ids[0]]
    if all(lemmas[i] in NOTHING_FILLERS or lemmas[i] in NOTHING_WORDS for i in first_clause[1:]):
        for i in first_clause:
            contributions[i] = 0.0
        contributions[0] = NOTHING_VALUE


def lexicon_polarity(total: float, saturation: float = 15.0) -> float:
    """Squash a signed lexicon sum into [-1, 1] (the VADER normalisation)."""
    return total / math.sqrt(total * total + saturation)


def lexicon_label(analysis: Analysis, settings: LexiconSettings) -> Scored:
    """Turn an analysis into a label and polarity with the lexicon thresholds."""
    positive, negative = analysis.positive_sum, analysis.negative_sum
    polarity = lexicon_polarity(positive - negative, settings.saturation)
    if positive == 0 and negative == 0:
        return Scored(NEUTRAL, 0.0)
    if positive > 0 and negative > 0 and min(positive, negative) >= settings.mixed_ratio * max(positive, negative):
        return Scored(NEUTRAL, round(polarity, 4))
    if polarity >= settings.neutral_band:
        return Scored(POSITIVE, round(polarity, 4))
    if polarity <= -settings.neutral_band:
        return Scored(NEGATIVE, round(polarity, 4))
    return Scored(NEUTRAL, round(polarity, 4))


# --------------------------------------------------------------------------- features for the trained layer


def _lexicon_features(analysis: Analysis) -> list[float]:
    positive, negative = analysis.positive_sum, analysis.negative_sum
    total = positive - negative
    mixed = min(positive, negative) / max(positive, negative) if positive and negative else 0.0
    clause_totals: dict = {}
    for clause, value in zip(analysis.clause_ids, analysis.contributions):
        if value:
            clause_totals[clause] = clause_totals.get(clause, 0.0) + value
    nets = list(clause_totals.values())
    positive_clauses = sum(1 for net in nets if net > 0)
    negative_clauses = sum(1 for net in nets if net < 0)
    opinionated = max(len(nets), 1)
    last = nets[-1] if nets else 0.0
    first = nets[0] if nets else 0.0
    return [
        lexicon_polarity(total),
        positive / (positive + 3.0),
        negative / (negative + 3.0),
        mixed,
        1.0 if positive == 0 and negative == 0 else 0.0,
        positive_clauses / opinionated,
        negative_clauses / opinionated,
        lexicon_polarity(last, 4.0),
        lexicon_polarity(first, 4.0),
        min(10.0 * total / (len(analysis.lemmas) + 5.0), 3.0) / 3.0,
    ]


LEXICON_FEATURE_COUNT = 10


def _ngram_features(analysis: Analysis, char_ngrams: int = 0) -> set:
    """Lemma unigrams, in-clause lemma bigrams and, if asked, word-internal character n-grams.

    Character n-grams (lengths 3..char_ngrams) carry misspelt and unseen word
    forms; they are marked with "#" so they cannot collide with words.
    """
    lemmas, clause_ids = analysis.lemmas, analysis.clause_ids
    features = set(lemmas)
    for i in range(len(lemmas) - 1):
        if clause_ids[i] == clause_ids[i + 1]:
            features.add(lemmas[i] + " " + lemmas[i + 1])
    if char_ngrams:
        for lemma in set(lemmas):
            features.update(_char_ngrams(lemma, char_ngrams))
    return features


@lru_cache(maxsize=200_000)
def _char_ngrams(word: str, longest: int) -> tuple:
    padded = "<" + word + ">"
    return tuple(
        "#" + padded[start:start + size]
        for size in range(3, longest + 1)
        for start in range(len(padded) - size + 1)
    )


def _class_ratio_weights(ngram_sets: list, labels: Sequence[str], vocabulary: dict) -> np.ndarray:
    """Per-feature weight: the largest |log-count ratio| of any class against the rest (add-one smoothed).

    With binary document counts p (texts of the class that contain the
    feature) and q (other texts that contain it), each normalised over the
    vocabulary, the ratio of a class is log(p / q). A word that appears evenly
    in every class gets a weight near 0 and stops diluting the L2 norm; a word
    typical of any one class (neutral included) keeps a large weight.
    """
    classes = sorted(set(labels))
    counts = np.zeros((len(classes), len(vocabulary)))
    row_of = {label: row for row, label in enumerate(classes)}
    for features, label in zip(ngram_sets, labels):
        columns = [vocabulary[feature] for feature in features if feature in vocabulary]
        counts[row_of[label], columns] += 1.0
    total = counts.sum(axis=0)
    weights = np.zeros(len(vocabulary))
    for row in range(len(classes)):
        inside = counts[row] + 1.0
        outside = total - counts[row] + 1.0
        ratio = np.abs(np.log((inside / inside.sum()) / (outside / outside.sum())))
        np.maximum(weights, ratio, out=weights)
    return weights


def _single_threaded():
    """Keep BLAS/OpenMP to one thread while fitting: on a small, shared machine threads only contend."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# --------------------------------------------------------------------------- the model


class SentimentModel:
    """Sentiment scorer: lexicon-only until trained, then a linear classifier over n-grams and lexicon scores."""

    def __init__(self, settings: LexiconSettings | None = None):
        """Create an untrained (lexicon-only) model with the given lexicon thresholds."""
        self.settings = settings or LexiconSettings()
        self.vocabulary: dict | None = None
        self.idf: np.ndarray | None = None
        self.coef: np.ndarray | None = None  # classes x (vocabulary + lexicon features)
        self.intercept: np.ndarray | None = None
        self.classes: tuple = LABELS
        self.lexicon_weight: float = 1.0
        self.char_ngrams: int = 0
        self.meta: dict = {}
        self._lemma_indexes: dict = {}  # lemma -> vocabulary indexes of its unigram and char n-grams

    @property
    def trained(self) -> bool:
        """True when the model carries classifier weights (otherwise it scores with the lexicon alone)."""
        return self.coef is not None

    # ------------------------------------------------------------------ training

    def train(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        regularisation: float = 4.0,
        min_count: int = 2,
        lexicon_weight: float = 1.0,
        char_ngrams: int = 0,
        class_ratio_weighting: bool = True,
    ) -> "SentimentModel":
        """Fit the classifier on (text, label) pairs; labels are negative/neutral/positive.

        ``regularisation`` is the inverse strength C of the logistic regression;
        n-grams seen in fewer than ``min_count`` texts are ignored. Classes are
        weighted by inverse frequency so a rare class is not drowned out.
        ``char_ngrams`` > 0 adds word-internal character n-grams of lengths
        3..char_ngrams (more robust to typos, slower to score).
        ``class_ratio_weighting`` multiplies each n-gram's idf by how strongly
        it separates one class from the rest (its largest absolute log-count
        ratio, as in NB-SVM, Wang and Manning 2012); the weight is folded into
        the stored idf, so scoring and the model format are unchanged.
        """
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError("texts and labels differ in length")
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown labels {unknown}; expected {LABELS}")
        if len(set(labels)) < 2:
            raise ValueError("training needs at least two different labels")
        analyses = [analyse(text) for text in texts]
        self.char_ngrams = char_ngrams
        ngram_sets = [_ngram_features(analysis, char_ngrams) for analysis in analyses]
        document_counts: dict = {}
        for features in ngram_sets:
            for feature in features:
                document_counts[feature] = document_counts.get(feature, 0) + 1
        kept = sorted(feature for feature, count in document_counts.items() if count >= min_count)
        self.vocabulary = {feature: index for index, feature in enumerate(kept)}
        total = len(texts)
        idf = np.array([math.log((1 + total) / (1 + document_counts[feature])) + 1.0 for feature in kept])
        if class_ratio_weighting:
            idf *= _class_ratio_weights(ngram_sets, labels, self.vocabulary)
        self.idf = idf.astype(np.float32)
        self.lexicon_weight = lexicon_weight
        self._lemma_indexes = {}
        matrix = self._matrix(analyses)
        classifier = LogisticRegression(C=regularisation, class_weight="balanced", max_iter=2000)
        with _single_threaded():
            classifier.fit(matrix, list(labels))
        order = [list(classifier.classes_).index(label) for label in LABELS if label in classifier.classes_]
        self.classes = tuple(str(classifier.classes_[i]) for i in order)
        coef = classifier.coef_
        intercept = classifier.intercept_
        if coef.shape[0] == 1:
            # Two classes: scikit-learn keeps one row for the second class.
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
            order = [0, 1]
        self.coef = coef[order].astype(np.float32)
        self.intercept = intercept[order].astype(np.float32)
        self.meta = {"trained_on": total, "vocabulary_size": len(kept)}
        return self

    def _feature_indexes(self, analysis: Analysis) -> set:
        """Vocabulary indexes of a text's n-grams; per-lemma lookups are memoised on the model."""
        vocabulary, per_lemma = self.vocabulary, self._lemma_indexes
        indexes: set = set()
        lemmas, clause_ids = analysis.lemmas, analysis.clause_ids
        for lemma in set(lemmas):
            cached = per_lemma.get(lemma)
            if cached is None:
                features = (lemma,) + (_char_ngrams(lemma, self.char_ngrams) if self.char_ngrams else ())
                cached = tuple(vocabulary[feature] for feature in features if feature in vocabulary)
                if len(per_lemma) < 300_000:
                    per_lemma[lemma] = cached
            indexes.update(cached)
        for i in range(len(lemmas) - 1):
            if clause_ids[i] == clause_ids[i + 1]:
                index = vocabulary.get(lemmas[i] + " " + lemmas[i + 1])
                if index is not None:
                    indexes.add(index)
        return indexes

    def _matrix(self, analyses: list):
        """Rows of L2-normalised idf weights over the vocabulary, then the weighted lexicon features."""
        from scipy.sparse import csr_matrix, hstack

        columns: list = []
        row_starts = [0]
        for analysis in analyses:
            columns.extend(self._feature_indexes(analysis))
            row_starts.append(len(columns))
        columns_array = np.array(columns, dtype=np.int64)
        values = self.idf[columns_array] if columns else np.zeros(0, dtype=np.float32)
        starts = np.array(row_starts, dtype=np.int64)
        lengths = np.diff(starts)
        squares = np.add.reduceat(values * values, starts[:-1][lengths > 0]) if values.size else np.zeros(0)
        norms = np.ones(len(analyses), dtype=np.float32)
        norms[lengths > 0] = np.sqrt(squares)
        norms[norms == 0] = 1.0  # every feature of the text weighs 0 (it is spread evenly over the classes)
        values = values / np.repeat(norms, lengths)
        ngrams = csr_matrix(
            (values.astype(np.float32), columns_array, starts), shape=(len(analyses), len(self.vocabulary))
        )
        lexical = np.array([_lexicon_features(analysis) for analysis in analyses], dtype=np.float32)
        lexical *= self.lexicon_weight
        return hstack([ngrams, csr_matrix(lexical.reshape(len(analyses), LEXICON_FEATURE_COUNT))], format="csr")

    # ------------------------------------------------------------------ scoring

    def predict(self, texts: Sequence[str]) -> list[Scored]:
        """Score each text; returns one Scored (label, polarity) per text, in order."""
        analyses = [analyse(text) for text in texts]
        if not self.trained:
            return [lexicon_label(analysis, self.settings) for analysis in analyses]
        if not analyses:
            return []
        scores = self._matrix(analyses) @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        positive_column = self.classes.index(POSITIVE) if POSITIVE in self.classes else None
        negative_column = self.classes.index(NEGATIVE) if NEGATIVE in self.classes else None
        results = []
        for row in probabilities:
            polarity = (row[positive_column] if positive_column is not None else 0.0) - (
                row[negative_column] if negative_column is not None else 0.0
            )
            results.append(Scored(self.classes[int(row.argmax())], round(float(polarity), 4)))
        return results

    def score(self, text: str) -> Scored:
        """Score a single text."""
        return self.predict([text])[0]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model: JSON for a lexicon-only model, compressed NumPy arrays (.npz) once trained.

        Returns the path written (".npz" is appended to a trained model's path
        if missing, as NumPy does).
        """
        path = Path(path)
        if self.trained and path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())
        return path

    def to_bytes(self) -> bytes:
        """The model as file content (what ``save`` writes), e.g. to keep a clinic's model in the database."""
        header = {
            "format": MODEL_FORMAT,
            "version": MODEL_FORMAT_VERSION,
            "kind": "linear" if self.trained else "lexicon",
            "lexicon": self.settings.to_dict(),
            "meta": self.meta,
        }
        if not self.trained:
            return (json.dumps(header, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        header.update(
            {"classes": list(self.classes), "lexicon_weight": self.lexicon_weight, "char_ngrams": self.char_ngrams}
        )
        features = sorted(self.vocabulary, key=self.vocabulary.get)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            header=np.array(json.dumps(header, ensure_ascii=False)),
            vocabulary=np.array(features, dtype=str),
            idf=self.idf,
            coef=self.coef,
            intercept=self.intercept,
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SentimentModel":
        """Read a model written by ``save`` (JSON or .npz); refuses files of another format."""
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), path.name)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "model") -> "SentimentModel":
        """Read model content written by ``to_bytes``; ``name`` appears in errors. Never unpickles."""
        if data[:1] == b"{":
            header = json.loads(data.decode("utf-8"))
            arrays = None
        else:
            try:
                arrays = np.load(io.BytesIO(data), allow_pickle=False)
                header = json.loads(str(arrays["header"]))
            except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{name} is not a {MODEL_FORMAT} model") from exc
        if header.get("format") != MODEL_FORMAT or header.get("version") != MODEL_FORMAT_VERSION:
            raise ValueError(f"{name} is not a {MODEL_FORMAT} v{MODEL_FORMAT_VERSION} model")
        model = cls(LexiconSettings(**header.get("lexicon", {})))
        model.meta = header.get("meta", {})
        if header["kind"] == "linear":
            if arrays is None:
                raise ValueError(f"{name}: a trained model must be an .npz file")
            model.vocabulary = {feature: index for index, feature in enumerate(arrays["vocabulary"].tolist())}
            model.idf = arrays["idf"].astype(np.float32)
            model.coef = arrays["coef"].astype(np.float32)
            model.intercept = arrays["intercept"].astype(np.float32)
            model.classes = tuple(header["classes"])
            model.lexicon_weight = float(header.get("lexicon_weight", 1.0))
            model.char_ngrams = int(header.get("char_ngrams", 0))
        return model


# --------------------------------------------------------------------------- module-level helpers


def configured_model_path() -> Path:
    """Path of the model to use: Flask config ``SENTIMENT_MODEL_PATH`` if set, else the shipped default."""
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            configured = current_app.config.get("SENTIMENT_MODEL_PATH")
            if configured:
                return Path(configured)
    except ImportError:
        pass
    return DEFAULT_MODEL_PATH


@lru_cache(maxsize=8)
def load_model_cached(path: str) -> SentimentModel:
    """Load a model once per path and keep it for the life of the process."""
    return SentimentModel.load(path)


def default_model() -> SentimentModel:
    """Return the configured default model, loaded once and cached."""
    return load_model_cached(str(configured_model_path()))


def score_text(text: str) -> Scored:
    """Score one text with the default model."""
    return default_model().score(text)


def score_texts(texts: Sequence[str]) -> list[Scored]:
    """Score many texts with the default model (faster than one by one for a trained model)."""
    return default_model().predict(texts)


def label_from_rating(stars: float | None) -> str | None:
    """Label implied by a star rating on a 0–5 scale: below 2.5 negative, below 3.5 neutral, else positive.

    So 1–2 stars are negative, 3 neutral, 4–5 positive (0 stars, used by a few
    sites as the lowest mark, is negative). ``None`` (no rating) gives ``None``.
    """
    if stars is None:
        return None
    stars = float(stars)
    if not 0 <= stars <= 5:
        raise ValueError(f"rating {stars} is outside 0..5")
    if stars < 2.5:
        return NEGATIVE
    if stars < 3.5:
        return NEUTRAL
    return POSITIVE


def labels_contradict(rating_label: str | None, text_label: str | None) -> bool:
    """True when one label is positive and the other negative (neutral never contradicts)."""
    return {rating_label, text_label} == {POSITIVE, NEGATIVE}


def rating_contradicts_text(stars: float | None, text: str | Scored, model: SentimentModel | None = None) -> bool:
    """Flag a review whose star rating and wording disagree (e.g. 5 stars on an angry text).

    ``text`` may be the review text or an already computed Scored. The rating
    stays the truth for the review's label; the flag is for a person to look at.
    """
    rating_label = label_from_rating(stars)
    if rating_label is None:
        return False
    scored = text if isinstance(text, Scored) else (model or default_model()).score(text)
    return labels_contradict(rating_label, scored.label)


def review_label(stars: float | None, text: str, model: SentimentModel | None = None) -> Scored:
    """Label of a review: the rating's label when there is a rating, with the text's polarity; else the text's."""
    scored = (model or default_model()).score(text)
    rating_label = label_from_rating(stars)
    if rating_label is None:
        return scored
    return Scored(rating_label, scored.polarity)


def is_analysable(text: str) -> bool:
    """True when a text is in a language the analyser knows well (Russian or English)."""
    return detect_language(text) != LANG_OTHER


def macro_report(true_labels: Sequence[str], predicted_labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support over the three labels.

    Macro-F1 averages the F1 of every label present in the truth or the
    predictions, so a class the model never predicts still counts (as 0).
    """
    if len(true_labels) != len(predicted_labels):
        raise ValueError("true and predicted labels differ in length")
    per_class = {}
    present = [label for label in LABELS if label in set(true_labels) | set(predicted_labels)]
    for label in present:
        true_positive = sum(1 for t, p in zip(true_labels, predicted_labels) if t == label and p == label)
        predicted = sum(1 for p in predicted_labels if p == label)
        support = sum(1 for t in true_labels if t == label)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    correct = sum(1 for t, p in zip(true_labels, predicted_labels) if t == p)
    return {
        "count": len(true_labels),
        "accuracy": correct / len(true_labels) if true_labels else 0.0,
        "macro_f1": sum(item["f1"] for item in per_class.values()) / len(per_class) if per_class else 0.0,
        "per_class": per_class,
    }


def evaluate_model(model: SentimentModel, texts: Sequence[str], labels: Sequence[str]) -> dict:
    """Score the texts with the model and compare with the given labels (see macro_report)."""
    return macro_report(list(labels), [scored.label for scored in model.predict(texts)])
