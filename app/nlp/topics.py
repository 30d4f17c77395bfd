"""Aspect tagging: which parts of a clinic visit a text talks about, and how it feels about each.

A text is split into clauses (by punctuation and by "but"/"но"); every clause
that mentions an aspect keyword lends its lexicon sentiment to that aspect.
When the mentioning clause carries no sentiment words, the whole sentence is
used instead, so "Ждали врача два часа, это ужасно" still marks waiting as
negative. Russian keywords are matched on pymorphy3 lemmas, English ones on
word forms and a few stems; per-word lookups are cached.
"""

from __future__ import annotations

from functools import lru_cache

from app.nlp.lang import lemmatize, tokenize
from app.nlp.sentiment import analyse, lexicon_polarity

ASPECTS = ("doctor", "nurses", "reception", "waiting", "booking", "prices", "cleanliness", "results")

ASPECT_TITLES = {
    "doctor": "Doctor",
    "nurses": "Nurses",
    "reception": "Reception and administrators",
    "waiting": "Waiting and queues",
    "booking": "Booking and phone",
    "prices": "Prices and billing",
    "cleanliness": "Cleanliness and comfort",
    "results": "Results and treatment",
}

# Whole words (any form: Russian ones are lemmatised when the table is built).
_KEYWORDS = {
    "doctor": (
        "врач врачиха доктор докторша терапевт хирург педиатр стоматолог окулист лор специалист "
        "ортопед ортодонт узист фельдшер консультация осмотр приём медик "
        "doctor doctors dr gp gps consultant consultants surgeon surgeons physician physicians "
        "specialist specialists dentist dentists clinician clinicians registrar paramedic paramedics"
    ),
    "nurses": (
        "медсестра медсестричка сестра медбрат санитар санитарка акушерка процедурная "
        "nurse nurses nursing midwife midwives matron hca hcas phlebotomist sister"
    ),
    "reception": (
        "регистратура регистратор администратор администраторша админ администрация ресепшн ресепшен "
        "ресепшена рецепция "
        "reception receptionist receptionists admin administrator administrators administration desk"
    ),
    "waiting": (
        "очередь ждать подождать прождать дожидаться ожидание ожидать задержка задержать задерживаться "
        "опоздать опоздание вовремя долго "
        "wait waits waited waiting queue queues queuing queueing delay delays delayed late lateness "
        "punctual"
    ),
    "booking": (
        "запись записаться записать записывать записываться дозвониться звонить позвонить перезвонить "
        "звонок телефон трубка колл-центр талон расписание перенести отменить онлайн-запись "
        "book booked booking bookings phone phoned phones telephone call calls called calling rang "
        "reschedule rescheduled rebook slot slots online app"
    ),
    "prices": (
        "цена стоимость дорого дорогой дороговато дешево дешевый деньга оплата оплатить платить "
        "заплатить переплатить счет чек рубль руб скидка прайс тариф бесплатно бесплатный платный "
        "страховка касса сумма "
        "price prices pricing cost costs costly expensive cheap cheaper bill bills billing billed pay "
        "paid paying payment payments charge charged charges fee fees money invoice insurance refund "
        "affordable overpriced"
    ),
    "cleanliness": (
        "чистый чисто чистота грязный грязно грязь уборка убирать пыль запах вонять вонь туалет "
        "ремонт уютный уютно уют комфорт комфортный комфортно бахилы кондиционер душно "
        "мебель диван кресло помещение интерьер антисанитария стерильный стерильность гардероб "
        "clean cleaner cleanliness dirty filthy hygiene hygienic unhygienic toilet toilets smell smelly "
        "comfortable comfort uncomfortable tidy spotless dust dusty seating chairs parking"
    ),
    "results": (
        "лечение лечить вылечить долечить результат анализ диагноз диагностика обследование "
        "выздороветь выздоровление процедура операция терапия назначение назначить препарат "
        "лекарство таблетка рецепт эффект улучшение пломба мрт узи рентген "
        "treatment treatments result results diagnosis diagnosed diagnose test tests scan scans "
        "xray x-ray surgery operation procedure procedures medication medications medicine prescription "
        "prescriptions recovery recovered cured outcome therapy"
    ),
}

# Stems matched at a word's start, and endings that name a medical specialist.
_PREFIXES = (
    ("медсест", "nurses"),
    ("регистратур", "reception"),
    ("администратор", "reception"),
    ("receptionist", "reception"),
    ("nurs", "nurses"),
    ("queu", "waiting"),
    ("hygien", "cleanliness"),
    ("diagnos", "results"),
)
_SUFFIXES = (
    ("олог", "doctor"),
    ("ологиня", "doctor"),
    ("иатр", "doctor"),
    ("ologist", "doctor"),
    ("ologists", "doctor"),
    ("iatrician", "doctor"),
)
# Two-word keywords (lemmas).
_PHRASES = {
    ("front", "desk"): "reception",
    ("on", "time"): "waiting",
    ("waiting", "time"): "waiting",
    ("blood", "test"): "results",
    ("phone", "line"): "booking",
    ("get", "through"): "booking",
    ("call", "centre"): "booking",
    ("call", "center"): "booking",
    ("waiting", "room"): "cleanliness",
    ("время", "ожидание"): "waiting",
    ("колл", "центр"): "booking",
}


@lru_cache(maxsize=1)
def _keyword_table() -> dict:
    table: dict = {}
    for aspect, words in _KEYWORDS.items():
        for word in words.split():
            for token in tokenize(word):
                table.setdefault(lemmatize(token), set()).add(aspect)
    return {lemma: tuple(sorted(aspects, key=ASPECTS.index)) for lemma, aspects in table.items()}


@lru_cache(maxsize=200_000)
def aspects_of_word(lemma: str) -> tuple:
    """Aspects a single lemma (or English word form) points to; empty for most words."""
    table = _keyword_table()
    if lemma in table:
        return table[lemma]
    for prefix, aspect in _PREFIXES:
        if lemma.startswith(prefix):
            return (aspect,)
    if len(lemma) > 5:
        for suffix, aspect in _SUFFIXES:
            if lemma.endswith(suffix):
                return (aspect,)
    return ()


def find_aspect_mentions(lemmas: list) -> list[tuple[int, str]]:
    """(position, aspect) for every keyword found in a lemma sequence."""
    mentions = []
    for position, lemma in enumerate(lemmas):
        for aspect in aspects_of_word(lemma):
            mentions.append((position, aspect))
        if position + 1 < len(lemmas):
            aspect = _PHRASES.get((lemma, lemmas[position + 1]))
            if aspect:
                mentions.append((position, aspect))
    return mentions


def tag_aspects(text: str, lang: str | None = None) -> dict[str, float]:
    """Aspects the text mentions, each with a sentiment in [-1, 1] (0.0 for a neutral mention).

    Example: "Врач внимательный, но цены высокие и дорого" ->
    {"doctor": 0.37, "prices": -0.49}. Keys come in the order of ASPECTS.
    """
    analysis = analyse(text, language=lang)
    mentions = find_aspect_mentions(analysis.lemmas)
    if not mentions:
        return {}
    clause_totals: dict = {}
    clause_sentence: dict = {}
    for clause, sentence, value in zip(analysis.clause_ids, analysis.sentence_ids, analysis.contributions):
        clause_sentence[clause] = sentence
        if value:
            clause_totals[clause] = clause_totals.get(clause, 0.0) + value
    aspects_by_clause: dict = {}
    for position, aspect in mentions:
        aspects_by_clause.setdefault(analysis.clause_ids[position], set()).add(aspect)
    sums: dict = {}
    for position, aspect in mentions:
        clause = analysis.clause_ids[position]
        if clause in clause_totals:
            value = clause_totals[clause]
        else:
            # Borrow the sentence's sentiment, but not from clauses about another aspect.
            sentence = analysis.sentence_ids[position]
            value = sum(
                total
                for other, total in clause_totals.items()
                if other in clause_sentence and clause_sentence[other] == sentence
                and not (aspects_by_clause.get(other, set()) - {aspect})
            )
        sums.setdefault(aspect, set()).add((clause, value))
    # A clause that names an aspect twice counts once.
    return {
        aspect: round(lexicon_polarity(sum(value for _, value in sums[aspect]), 4.0), 3)
        for aspect in ASPECTS
        if aspect in sums
    }
