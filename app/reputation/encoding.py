"""Decoding fetched or saved HTML bytes into text, trusting the bytes over the page's own claims.

Review sites do not always say truthfully how a page is encoded: ProDoctorov serves
windows-1251 bytes under a ``charset=UTF-8`` declaration. The rule here is that a UTF-8
decode settles it when it succeeds, or fails on only a few stray bytes in text that is
otherwise UTF-8; else every plausible single-byte codec (the declared one, windows-1251,
windows-1252, KOI8-R, then the detector's guess) is tried and the one whose text reads
most like words wins.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

# Only the head of the document is searched for a <meta charset>; browsers do the same.
_META_SNIFF_BYTES = 4096
# The detector is slow on multi-megabyte pages and gains nothing from the whole body.
_DETECTOR_SAMPLE_BYTES = 400_000
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_FALLBACK_CODECS = ("cp1251", "cp1252", "koi8-r")
# Words with at least one non-ASCII letter: only those differ between single-byte codecs.
_NON_ASCII_WORD = re.compile(r"[^\W\d_]*[^\x00-\x7f\W\d_][^\W\d_]*")
# Scoring a few thousand words is as telling as scoring a whole page, and much faster.
_SCORED_WORDS = 3000
# A UTF-8 page may carry a stray byte or two (a truncated snippet, a pasted quote); a page in
# a single-byte codec fails UTF-8 on nearly every non-ASCII letter, far above this share.
_MAX_STRAY_BYTE_SHARE = 0.001


@dataclass(frozen=True)
class DecodedHtml:
    """Text of a page and the codec that produced it (Python's canonical codec name)."""

    text: str
    encoding: str
    declared: str | None


def canonical_codec(name: str | None) -> str | None:
    """Return Python's canonical name for an encoding label (``windows-1251`` -> ``cp1251``), or None."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def declared_charset(content: bytes, http_charset: str | None = None) -> str | None:
    """The charset the server or the page claims: the HTTP header first, then a <meta> tag."""
    from_header = canonical_codec(http_charset)
    if from_header:
        return from_header
    match = _META_CHARSET.search(content[:_META_SNIFF_BYTES])
    if match:
        return canonical_codec(match.group(1).decode("ascii", "ignore"))
    return None


def _wordlike_score(text: str) -> int:
    """Score how much the non-ASCII words of a decoded text look like real words.

    Each non-ASCII word that is in one script, normally cased and (for Latin) still mostly
    ASCII letters counts +1; every other non-ASCII word counts -1. Decoding with the wrong
    single-byte codec turns words into mixed-script, oddly-cased or all-accent strings
    (``mйdecin``, ``пХЙЮМ``, ``Îëüãà``), so the right codec scores highest.
    """
    score = 0
    for seen, match in enumerate(_NON_ASCII_WORD.finditer(text)):
        if seen >= _SCORED_WORDS:
            break
        word = match.group(0)
        if len(word) < 2:
            continue
        score += 1 if _looks_like_word(word) else -1
    return score


def _looks_like_word(word: str) -> bool:
    """True for a word in one script with ordinary casing (see ``_wordlike_score``)."""
    if not (word.islower() or word.istitle() or (word.isupper() and len(word) <= 4)):
        return False
    cyrillic = sum(1 for ch in word if "\u0400" <= ch <= "\u04ff")
    if cyrillic:
        return cyrillic == len(word)
    if any(ord(ch) > 0x24F for ch in word):
        return False
    non_ascii = sum(1 for ch in word if ord(ch) > 0x7F)
    return non_ascii * 2 <= len(word)


def _detector_guess(content: bytes) -> str | None:
    """Ask charset-normalizer for its best guess; None when it has none."""
    try:
        best = charset_normalizer.from_bytes(content[:_DETECTOR_SAMPLE_BYTES]).best()
    except Exception:  # the detector is a heuristic; never let it break decoding
        return None
    return canonical_codec(best.encoding) if best is not None else None


def _mostly_utf8(content: bytes) -> str | None:
    """The text of a UTF-8 page spoilt by a few stray bytes (each becomes U+FFFD), else None.

    Accepted when the stray bytes are under ``_MAX_STRAY_BYTE_SHARE`` of the characters and
    the non-ASCII characters that do decode outnumber them: a mostly-ASCII page in
    windows-1252 has a low share too, but none of its accented letters decode as UTF-8.
    """
    text = content.decode("utf-8", errors="replace")
    # A U+FFFD the page itself carries is not a stray byte.
    stray = text.count("\ufffd") - content.count("\ufffd".encode("utf-8"))
    if not text or stray > len(text) * _MAX_STRAY_BYTE_SHARE:
        return None
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    return text if non_ascii - stray > stray else None


def decode_html(content: bytes, http_charset: str | None = None) -> DecodedHtml:
    """Decode page bytes, letting the real encoding win over what the page declares.

    Order: a byte-order mark; a strict UTF-8 decode; UTF-8 with a few stray bytes replaced
    (see ``_mostly_utf8``); otherwise the candidate single-byte codec (declared,
    windows-1251, windows-1252, KOI8-R, detected) that decodes strictly and yields the most
    word-like text. Never raises: as a last resort bytes are replaced.
    """
    declared = declared_charset(content, http_charset)
    for bom, codec in _BOMS:
        if content.startswith(bom):
            reported = "utf-8" if codec == "utf-8-sig" else codec
            return DecodedHtml(content.decode(codec, errors="replace"), reported, declared)
    try:
        return DecodedHtml(content.decode("utf-8"), "utf-8", declared)
    except UnicodeDecodeError:
        pass
    mostly_utf8 = _mostly_utf8(content)
    if mostly_utf8 is not None:
        return DecodedHtml(mostly_utf8, "utf-8", declared)

    best: tuple[int, str, str] | None = None
    tried: set[str] = set()

    def consider(names: tuple[str | None, ...]) -> None:
        nonlocal best
        for name in names:
            codec = canonical_codec(name)
            if not codec or codec in tried or codec in ("utf-8", "ascii"):
                continue
            tried.add(codec)
            try:
                text = content.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
            score = _wordlike_score(text)
            # Strictly greater: on a tie the earlier candidate wins.
            if best is None or score > best[0]:
                best = (score, codec, text)

    # Declared first, then the codecs this product meets most; the detector only when
    # none of those reads well, since it is slow and unreliable on Cyrillic samples
    # (it may answer cp1125 for windows-1251 text).
    consider((declared, *_FALLBACK_CODECS))
    if best is None or best[0] <= 0:
        consider((_detector_guess(content),))
    if best is not None:
        return DecodedHtml(best[2], best[1], declared)
    return DecodedHtml(content.decode("utf-8", errors="replace"), "utf-8", declared)
