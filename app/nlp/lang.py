"""Language detection, tokenisation and cached lemmatisation for Russian and English.

Everything here runs offline and keeps per-word work behind caches, because the
sentiment scorer and the aspect tagger call it for every review and comment.
"""

from __future__ import annotations

import re
from functools import lru_cache

LANG_RU = "ru"
LANG_EN = "en"
LANG_BG = "bg"
LANG_OTHER = "other"

# Letters only Russian uses among the Cyrillic languages we are likely to meet.
_RUSSIAN_ONLY = set("ыэё")
# Letters of Ukrainian, Belarusian, Serbian and Macedonian that Russian and Bulgarian lack.
_OTHER_CYRILLIC = set("іїєґўђјљњћџѓќѕ")
_BULGARIAN_WORDS = frozenset(
    "ще са съм сме сте беше бяха това тази този тези във със към пред "
    "обаче много добре лекарят лекарката сестрите който която които нещо "
    "нямаше няма благодаря".split()
)
_RUSSIAN_WORDS = frozenset(
    "что это как был была были очень врач всё все его она они мне меня "
    "спасибо который которая нас вас уже только".split()
)
_ENGLISH_WORDS = frozenset(
    "the and was were is are to of very not it i we my they staff "
    "nothing no good great for with this that have had".split()
)

# A token is a run of letters/digits (with inner apostrophes or hyphens), an
# emoticon, a run of brackets (Russian writers smile with "))))"), or an emoji.
_TOKEN_RE = re.compile(
    r"[:;=8][\-o']?[()\[\]DPp3]"  # western emoticons
    r"|\){2,}|\({2,}"  # ")))" and "((("
    r"|[^\W_]+(?:['’\-][^\W_]+)*"  # words, n't, hyphenated words
    r"|[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]"  # emoji and pictographic stars
    r"|[.!?;…]+|[,:\u2014\u2013]"  # punctuation that ends sentences or clauses
)
_CYRILLIC_RE = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN_RE = re.compile(r"[a-z]", re.IGNORECASE)
_LATIN_EXTENDED_RE = re.compile(r"[à-ÿāăąćčďđēėęěğīįıķľłńňōőœřśşšťūůűųźżž]", re.IGNORECASE)


def detect_language(text: str) -> str:
    """Return "ru", "en", "bg" or "other" for a text, judged from its script and a few common words.

    Cyrillic text is Russian unless it carries letters of other Cyrillic
    languages or reads like Bulgarian; Latin text is English unless it is full of
    accented letters and has no common English words.
    """
    if not text:
        return LANG_OTHER
    cyrillic = len(_CYRILLIC_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if cyrillic == 0 and latin == 0:
        return LANG_OTHER
    lowered = text.lower()
    words = re.findall(r"[^\W\d_]+", lowered)
    if cyrillic >= latin:
        letters = set(lowered)
        if letters & _OTHER_CYRILLIC and not letters & _RUSSIAN_ONLY:
            return LANG_OTHER
        if letters & _RUSSIAN_ONLY:
            return LANG_RU
        bulgarian_hits = sum(1 for word in words if word in _BULGARIAN_WORDS)
        # "ъ" inside a word is common in Bulgarian and rare in Russian.
        bulgarian_hits += sum(1 for word in words if "ъ" in word[:-1])
        russian_hits = sum(1 for word in words if word in _RUSSIAN_WORDS)
        if bulgarian_hits > russian_hits:
            return LANG_BG
        return LANG_RU
    english_hits = sum(1 for word in words if word in _ENGLISH_WORDS)
    accented = len(_LATIN_EXTENDED_RE.findall(text))
    if english_hits == 0 and accented * 20 >= latin:
        return LANG_OTHER
    return LANG_EN


def tokenize(text: str) -> list[str]:
    """Split a text into lower-case tokens: words, emoticons, emoji and clause punctuation."""
    return _TOKEN_RE.findall(text.lower().replace("ё", "е"))


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=300_000)
def lemmatize(token: str) -> str:
    """Return the dictionary form of one lower-case token.

    Cyrillic words go through pymorphy3 (the most likely parse) with "ё" folded
    into "е"; other tokens come back with only the possessive "'s" dropped.
    The cache keeps repeat words at dictionary-lookup speed.
    """
    if token and "а" <= token[0] <= "я" or token[:1] == "ё":
        return _morph().parse(token)[0].normal_form.replace("ё", "е")
    if token.endswith(("'s", "’s")):
        return token[:-2]
    return token


def is_word(token: str) -> bool:
    """True when a token is a word rather than punctuation, an emoticon or an emoji."""
    return token[:1].isalnum()
