"""Questionnaires: question types, the default questionnaire, versioning, and reading answers.

A question is a dict stored in a version's JSON:
``{"key", "type", "required", "label": {"ru", "en"}, "options": [{"key", "label": {...}}], "aspect"}``.
Types: nps (0–10), rating (1–5, an aspect score), single, multiple, yesno, text.
The contact block, consent and the red button are part of every form, not questions.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import ConsentText, Questionnaire, QuestionnaireVersion, utcnow
from app.parsing import whole_number

QUESTION_TYPES = ("nps", "rating", "single", "multiple", "yesno", "text")
LANGUAGES = ("ru", "en")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TEXT = 2000
MAX_QUESTIONS = 40
MAX_OPTIONS = 20

# Aspects of the default questionnaire; analytics and risk rules know these keys.
DEFAULT_ASPECTS = {
    "doctor": ("Врач", "The doctor"),
    "nurses": ("Медсёстры", "Nurses"),
    "reception": ("Регистратура и администраторы", "Reception and administrators"),
    "waiting": ("Время ожидания", "Waiting time"),
    "cleanliness": ("Чистота", "Cleanliness"),
    "prices": ("Понятность цен", "Clarity of prices"),
}

DEFAULT_CONSENT = {
    "ru": ("Я даю согласие {clinic} на обработку моих персональных данных (имя, телефон, e-mail), указанных в "
           "этой форме, в целях связи со мной по моему отзыву, в соответствии с Федеральным законом № 152-ФЗ "
           "«О персональных данных». Согласие действует до его отзыва; отозвать его можно, обратившись в клинику."),
    "en": ("I consent to {clinic} processing the personal data I give in this form (name, phone, e-mail) in order "
           "to contact me about my feedback. The consent lasts until I withdraw it, which I can do by contacting "
           "the clinic."),
}


class QuestionnaireError(ValueError):
    """A questionnaire definition that cannot be saved; the message says why."""


def _label(ru: str, en: str) -> dict:
    return {"ru": ru, "en": en}


def default_questions() -> list[dict]:
    """The questions every new clinic starts with, in Russian and English."""
    questions = [{
        "key": "nps", "type": "nps", "required": True,
        "label": _label("Насколько вероятно, что вы порекомендуете нашу клинику друзьям и близким?",
                        "How likely are you to recommend our clinic to friends and family?"),
    }]
    for aspect, (ru, en) in DEFAULT_ASPECTS.items():
        questions.append({"key": f"rating_{aspect}", "type": "rating", "required": False, "aspect": aspect,
                          "label": _label(ru, en)})
    questions.append({"key": "would_return", "type": "yesno", "required": False,
                      "label": _label("Придёте ли вы к нам снова?", "Would you come back to us?")})
    questions.append({"key": "comment", "type": "text", "required": False,
                      "label": _label("Что нам стоит знать? Что понравилось, что улучшить?",
                                      "Anything we should know? What went well, what could be better?")})
    return questions


def label(item: dict, language: str) -> str:
    """A question's or option's label in ``language``, falling back to any language it has."""
    labels = item.get("label") or {}
    return labels.get(language) or labels.get("ru") or labels.get("en") or item.get("key", "")


def rating_aspect_labels(language: str) -> dict[str, str]:
    """What the current clinic's questionnaires call each rated aspect, in ``language``.

    The newest version that rates an aspect names it ("Понятность цен" for ``prices``),
    so a clinic's own aspects ("parking") read as the clinic wrote them. Versions never
    published are left out: their wording was never shown to a patient.
    """
    versions = db.session.scalars(select(QuestionnaireVersion.questions)
                                  .where(QuestionnaireVersion.status != "draft")
                                  .order_by(QuestionnaireVersion.id.desc())).all()
    labels: dict[str, str] = {}
    for questions in versions:
        for question in questions or []:
            if question.get("type") == "rating" and question.get("aspect"):
                labels.setdefault(question["aspect"], label(question, language))
    return labels


def validate_questions(questions: list[dict]) -> list[dict]:
    """Check and normalise a list of question dicts; raises QuestionnaireError."""
    if not isinstance(questions, list) or not questions:
        raise QuestionnaireError(_l("A questionnaire needs at least one question."))
    if len(questions) > MAX_QUESTIONS:
        raise QuestionnaireError(_l("At most %(n)s questions.", n=MAX_QUESTIONS))
    seen, cleaned = set(), []
    for q in questions:
        if not isinstance(q, dict):
            raise QuestionnaireError(_l("Each question must be an object with a key and a type."))
        key, qtype = q.get("key", ""), q.get("type")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise QuestionnaireError(_l("Question key %(key)r: lower-case letters, digits and _.", key=key))
        if key in seen:
            raise QuestionnaireError(_l("Question key %(key)r is used twice.", key=key))
        seen.add(key)
        if qtype not in QUESTION_TYPES:
            raise QuestionnaireError(_l("Question %(key)s: unknown type %(type)r.", key=key, type=qtype))
        labels = {lang: str(q.get("label", {}).get(lang, "")).strip()[:500] for lang in LANGUAGES}
        if not any(labels.values()):
            raise QuestionnaireError(_l("Question %(key)s needs a label.", key=key))
        item = {"key": key, "type": qtype, "required": bool(q.get("required")), "label": labels}
        if qtype in ("single", "multiple"):
            options = q.get("options") or []
            if not 2 <= len(options) <= MAX_OPTIONS:
                raise QuestionnaireError(_l("Question %(key)s: 2 to %(n)s options.", key=key, n=MAX_OPTIONS))
            option_keys = set()
            item["options"] = []
            for o in options:
                okey = o.get("key", "")
                if not KEY_RE.match(okey) or okey in option_keys:
                    raise QuestionnaireError(_l("Question %(key)s: bad or repeated option key %(option)r.",
                                                 key=key, option=okey))
                option_keys.add(okey)
                olabels = {lang: str(o.get("label", {}).get(lang, "")).strip()[:200] for lang in LANGUAGES}
                if not any(olabels.values()):
                    raise QuestionnaireError(_l("Question %(key)s: option %(option)s needs a label.",
                                                 key=key, option=okey))
                item["options"].append({"key": okey, "label": olabels})
        if qtype == "rating":
            aspect = q.get("aspect") or key.removeprefix("rating_")
            if not KEY_RE.match(aspect):
                raise QuestionnaireError(_l("Question %(key)s: bad aspect %(aspect)r.", key=key, aspect=aspect))
            item["aspect"] = aspect
        cleaned.append(item)
    if sum(1 for q in cleaned if q["type"] == "nps") > 1:
        raise QuestionnaireError(_l("Only one NPS question per questionnaire."))
    return cleaned


def create_default_questionnaire(clinic_name: str) -> Questionnaire:
    """The default questionnaire (published version 1) and consent texts for a new clinic."""
    questionnaire = Questionnaire(name="Основная анкета / Main questionnaire", is_default=True)
    db.session.add(questionnaire)
    db.session.flush()
    db.session.add(QuestionnaireVersion(questionnaire_id=questionnaire.id, number=1, status="published",
                                        questions=default_questions(), published_at=utcnow()))
    for language, text in DEFAULT_CONSENT.items():
        db.session.add(ConsentText(language=language, version=1, text=text.format(clinic=clinic_name)))
    db.session.flush()
    return questionnaire


def published_version(questionnaire_id: int) -> QuestionnaireVersion | None:
    """The version patients answer now."""
    return db.session.scalar(select(QuestionnaireVersion).where(
        QuestionnaireVersion.questionnaire_id == questionnaire_id, QuestionnaireVersion.status == "published"))


def answered_version(point, shown: str | None) -> QuestionnaireVersion | None:
    """The version a patient's form showed (its hidden ``version``), else the published one.

    A manager may publish a new version while a patient is filling in the old one: their answers
    are read against the questions they saw, or a question removed in between would drop its
    answer silently (and a low score with it). Only a published or archived version of the
    point's own questionnaire is taken.
    """
    current = published_version(point.questionnaire_id)
    shown_id = whole_number(shown) if isinstance(shown, str) else None
    if shown_id is None or current is None or shown_id == current.id:
        return current
    seen = db.session.scalar(select(QuestionnaireVersion).where(
        QuestionnaireVersion.id == shown_id, QuestionnaireVersion.questionnaire_id == point.questionnaire_id,
        QuestionnaireVersion.status.in_(("published", "archived"))))
    return seen or current


def working_draft(questionnaire: Questionnaire) -> QuestionnaireVersion:
    """The draft to edit: the existing one, or a copy of the published version."""
    draft = db.session.scalar(select(QuestionnaireVersion).where(
        QuestionnaireVersion.questionnaire_id == questionnaire.id, QuestionnaireVersion.status == "draft"))
    if draft is not None:
        return draft
    latest = db.session.scalar(select(QuestionnaireVersion).where(
        QuestionnaireVersion.questionnaire_id == questionnaire.id).order_by(QuestionnaireVersion.number.desc()))
    draft = QuestionnaireVersion(questionnaire_id=questionnaire.id, number=(latest.number + 1) if latest else 1,
                                 status="draft", questions=copy.deepcopy(latest.questions) if latest else [])
    db.session.add(draft)
    db.session.flush()
    return draft


def publish_draft(questionnaire: Questionnaire) -> QuestionnaireVersion:
    """Publish the draft; the previously published version is archived, never changed."""
    draft = working_draft(questionnaire)
    draft.questions = validate_questions(draft.questions)
    current = published_version(questionnaire.id)
    if current is not None:
        current.status = "archived"
    draft.status = "published"
    draft.published_at = utcnow()
    db.session.flush()
    return draft


def current_consent(language: str) -> ConsentText | None:
    """The newest consent text of the current clinic in ``language`` (or any language)."""
    text = db.session.scalar(select(ConsentText).where(ConsentText.language == language)
                             .order_by(ConsentText.version.desc()))
    return text or db.session.scalar(select(ConsentText).order_by(ConsentText.version.desc()))


def new_consent_version(language: str, text: str) -> ConsentText:
    """Save a new consent text version; earlier versions stay for the responses that accepted them."""
    text = (text or "").strip()
    if language not in LANGUAGES or not 20 <= len(text) <= 5000:
        raise QuestionnaireError(_l("A consent text has 20 to 5000 characters, in Russian or English."))
    latest = db.session.scalar(select(ConsentText.version).where(ConsentText.language == language)
                               .order_by(ConsentText.version.desc()))
    consent = ConsentText(language=language, version=(latest or 0) + 1, text=text)
    db.session.add(consent)
    db.session.flush()
    return consent


@dataclass
class ParsedAnswers:
    answers: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    nps: int | None = None
    ratings: dict = field(default_factory=dict)
    would_return: bool | None = None
    comment: str = ""


def parse_answers(questions: list[dict], form, language: str) -> ParsedAnswers:
    """Read and check the answers to ``questions`` from a submitted form (a MultiDict).

    Errors are keyed by question key, with a message in the patient's language.
    """
    en = language == "en"
    msg_required = "Please answer this question." if en else "Пожалуйста, ответьте на этот вопрос."
    msg_invalid = "Please choose one of the options." if en else "Выберите один из вариантов."
    msg_long = f"At most {MAX_TEXT} characters." if en else f"Не больше {MAX_TEXT} символов."
    parsed = ParsedAnswers()
    for q in questions:
        key, qtype, name = q["key"], q["type"], f"q_{q['key']}"
        raw = form.get(name, "")
        value = None
        if qtype == "nps":
            value = whole_number(raw, maximum=10)
            if raw and value is None:
                parsed.errors[key] = msg_invalid
            parsed.nps = value
        elif qtype == "rating":
            value = whole_number(raw, minimum=1, maximum=5)
            if raw and value is None:
                parsed.errors[key] = msg_invalid
            if value is not None:
                parsed.ratings[q["aspect"]] = value
        elif qtype == "yesno":
            value = {"yes": True, "no": False}.get(raw) if raw else None
            if raw and value is None:
                parsed.errors[key] = msg_invalid
            if key == "would_return":
                parsed.would_return = value
        elif qtype == "single":
            keys = {o["key"] for o in q["options"]}
            value = raw if raw in keys else None
            if raw and value is None:
                parsed.errors[key] = msg_invalid
        elif qtype == "multiple":
            keys = [o["key"] for o in q["options"]]
            chosen = form.getlist(name)[:MAX_OPTIONS]
            if any(c not in keys for c in chosen):
                parsed.errors[key] = msg_invalid
            value = [k for k in keys if k in chosen] or None
        elif qtype == "text":
            text = raw.replace("\r\n", "\n").strip()
            if len(text) > MAX_TEXT:
                parsed.errors[key] = msg_long
            value = text[:MAX_TEXT] or None
            if value and key == "comment":
                parsed.comment = value
        if value is None and q.get("required") and key not in parsed.errors:
            parsed.errors[key] = msg_required
        if value is not None:
            parsed.answers[key] = value
    if not parsed.comment:
        # A questionnaire may name its free-text question differently; the first text answer is the comment.
        texts = [parsed.answers[q["key"]] for q in questions if q["type"] == "text" and q["key"] in parsed.answers]
        parsed.comment = texts[0] if texts else ""
    return parsed


# --- editing in the workspace ---
# Every edit goes through the working draft and is validated as a whole, so a
# draft is always publishable and a published version is never touched.

def create_questionnaire(name: str) -> Questionnaire:
    """A new questionnaire of the current clinic, with a draft holding one NPS question."""
    name = (name or "").strip()[:200]
    if not name:
        raise QuestionnaireError(_l("A questionnaire needs a name."))
    questionnaire = Questionnaire(name=name, is_default=False)
    db.session.add(questionnaire)
    db.session.flush()
    db.session.add(QuestionnaireVersion(questionnaire_id=questionnaire.id, number=1, status="draft",
                                        questions=[default_questions()[0]]))
    db.session.flush()
    return questionnaire


def existing_draft(questionnaire: Questionnaire) -> QuestionnaireVersion | None:
    """The questionnaire's draft, if one exists (read-only: creates nothing)."""
    return db.session.scalar(select(QuestionnaireVersion).where(
        QuestionnaireVersion.questionnaire_id == questionnaire.id, QuestionnaireVersion.status == "draft"))


def _save(draft: QuestionnaireVersion, questions: list[dict]) -> QuestionnaireVersion:
    # A new list object: SQLAlchemy only notices a JSON column change on assignment.
    draft.questions = validate_questions(copy.deepcopy(questions))
    db.session.flush()
    return draft


def _new_key(questions: list[dict], stem: str) -> str:
    keys = {q["key"] for q in questions}
    if stem not in keys:
        return stem
    n = 2
    while f"{stem}_{n}" in keys:
        n += 1
    return f"{stem}_{n}"


def add_question(questionnaire: Questionnaire, qtype: str, *, label_ru: str = "", label_en: str = "",
                 aspect: str = "", required: bool = False) -> dict:
    """Append a question of ``qtype`` to the working draft; returns the new question.

    Choice questions start with two options to be renamed; a rating question
    needs an aspect key (what the 1–5 score is about, e.g. ``parking``).
    """
    if qtype not in QUESTION_TYPES:
        raise QuestionnaireError(_l("Unknown question type %(type)r.", type=qtype))
    draft = working_draft(questionnaire)
    questions = copy.deepcopy(draft.questions)
    aspect = (aspect or "").strip().lower()
    if qtype == "rating":
        if not KEY_RE.match(aspect):
            raise QuestionnaireError(
                _l("A rating question needs an aspect key: lower-case latin letters, digits and _."))
        key = _new_key(questions, f"rating_{aspect}"[:40])
    else:
        key = _new_key(questions, "comment" if qtype == "text" else qtype)
    defaults = {"nps": ("Порекомендуете ли вы нас?", "Would you recommend us?"),
                "rating": ("Оцените", "Please rate"), "single": ("Выберите один вариант", "Choose one"),
                "multiple": ("Выберите подходящие варианты", "Choose all that apply"),
                "yesno": ("Да или нет?", "Yes or no?"), "text": ("Ваш комментарий", "Your comment")}[qtype]
    question = {"key": key, "type": qtype, "required": bool(required),
                "label": {"ru": (label_ru or "").strip() or defaults[0], "en": (label_en or "").strip() or defaults[1]}}
    if qtype == "rating":
        question["aspect"] = aspect
    if qtype in ("single", "multiple"):
        question["options"] = [{"key": "option_1", "label": {"ru": "Вариант 1", "en": "Option 1"}},
                               {"key": "option_2", "label": {"ru": "Вариант 2", "en": "Option 2"}}]
    questions.append(question)
    _save(draft, questions)
    return question


def _index(questions: list[dict], key: str) -> int:
    for i, q in enumerate(questions):
        if q["key"] == key:
            return i
    raise QuestionnaireError(_l("No question %(key)r in the draft.", key=key))


def update_question(questionnaire: Questionnaire, key: str, *, label_ru: str, label_en: str, required: bool,
                    aspect: str | None = None, options: list[dict] | None = None) -> dict:
    """Change a draft question's labels, required flag, aspect (rating) or options (choices).

    ``options`` is a list of ``{"key", "label": {"ru", "en"}}``; an option whose
    labels are both empty is dropped, a new one without a key gets the next free key.
    """
    draft = working_draft(questionnaire)
    questions = copy.deepcopy(draft.questions)
    q = questions[_index(questions, key)]
    q["label"] = {"ru": (label_ru or "").strip(), "en": (label_en or "").strip()}
    q["required"] = bool(required)
    if q["type"] == "rating" and aspect is not None:
        q["aspect"] = aspect.strip().lower()
    if q["type"] in ("single", "multiple") and options is not None:
        kept, used = [], set()
        for o in options:
            labels = {lang: (o.get("label", {}).get(lang) or "").strip() for lang in LANGUAGES}
            if not any(labels.values()):
                continue
            okey = o.get("key") or ""
            if not okey:
                n = len(used) + 1
                while f"option_{n}" in used or any(x.get("key") == f"option_{n}" for x in options):
                    n += 1
                okey = f"option_{n}"
            used.add(okey)
            kept.append({"key": okey, "label": labels})
        q["options"] = kept
    _save(draft, questions)
    return q


def remove_question(questionnaire: Questionnaire, key: str) -> None:
    """Remove a question from the working draft (published versions keep it)."""
    draft = working_draft(questionnaire)
    questions = copy.deepcopy(draft.questions)
    del questions[_index(questions, key)]
    _save(draft, questions)


def move_question(questionnaire: Questionnaire, key: str, step: int) -> None:
    """Move a draft question up (step -1) or down (step +1); at an end it stays put."""
    draft = working_draft(questionnaire)
    questions = copy.deepcopy(draft.questions)
    i = _index(questions, key)
    j = i + (1 if step > 0 else -1)
    if 0 <= j < len(questions):
        questions[i], questions[j] = questions[j], questions[i]
        _save(draft, questions)


def discard_draft(questionnaire: Questionnaire) -> None:
    """Throw away unpublished edits."""
    draft = existing_draft(questionnaire)
    if draft is not None:
        db.session.delete(draft)
        db.session.flush()


@dataclass
class VersionSummary:
    """One row of a questionnaire's version history."""

    version: QuestionnaireVersion
    responses: int


def version_history(questionnaire: Questionnaire) -> list[VersionSummary]:
    """Every version, newest first, with how many responses answered it."""
    from sqlalchemy import func

    from app.models import Response

    counts = dict(db.session.execute(
        select(Response.questionnaire_version_id, func.count(Response.id))
        .join(QuestionnaireVersion, QuestionnaireVersion.id == Response.questionnaire_version_id)
        .where(QuestionnaireVersion.questionnaire_id == questionnaire.id)
        .group_by(Response.questionnaire_version_id)).all())
    versions = db.session.scalars(select(QuestionnaireVersion).where(
        QuestionnaireVersion.questionnaire_id == questionnaire.id).order_by(QuestionnaireVersion.number.desc())).all()
    return [VersionSummary(v, counts.get(v.id, 0)) for v in versions]


def answered_questions(response, language: str) -> list[tuple[str, str]]:
    """A response read with the questions of the version it answered: (question label, answer text) pairs."""
    version = db.session.get(QuestionnaireVersion, response.questionnaire_version_id)
    en = language == "en"
    rows = []
    for q in (version.questions if version else []):
        if q["key"] not in response.answers:
            continue
        value = response.answers[q["key"]]
        if q["type"] == "yesno":
            text = ("Yes" if value else "No") if en else ("Да" if value else "Нет")
        elif q["type"] in ("single", "multiple"):
            labels = {o["key"]: label(o, language) for o in q.get("options", [])}
            chosen = value if isinstance(value, list) else [value]
            text = ", ".join(labels.get(k, k) for k in chosen)
        elif q["type"] == "rating":
            text = f"{value}/5"
        else:
            text = str(value)
        rows.append((label(q, language), text))
    return rows
