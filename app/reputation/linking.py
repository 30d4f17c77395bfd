"""Which of the clinic's doctors a review page is about, from the name the page is headed with.

A manager who adds a doctor's page on a review site without choosing the doctor still gets
the reviews counted for that doctor: on the source's first successful read, the page's
heading ("Цуканова Ольга Владимировна Видное", "Dr. Hilary Pada") is compared with the
names of the clinic's doctors. Pure functions: no database, no request.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall((text or "").casefold().replace("ё", "е"))


def names_doctor(heading: str, full_name: str) -> bool:
    """Whether ``heading`` names the doctor called ``full_name``.

    Every word of the name must be in the heading, in any order ("Hilary Pada" in "Dr.
    Hilary Pada"; "Цуканова Ольга Владимировна"); an initial ("Цуканова О. В.") must begin
    another word of the heading. The name must hold at least one whole word and two parts, so
    a surname alone never links a page.
    """
    heading_words = _words(heading)
    parts = _words(full_name)
    whole = [part for part in parts if len(part) > 1]
    initials = [part for part in parts if len(part) == 1]
    if not whole or len(parts) < 2 or any(word not in heading_words for word in whole):
        return False
    rest = [word for word in heading_words if word not in whole]
    for initial in initials:
        match = next((word for word in rest if word.startswith(initial)), None)
        if match is None:
            return False
        rest.remove(match)
    return True


def match_doctor(heading: str | None, doctors: Iterable[tuple[int, str]]) -> int | None:
    """The id of the one doctor (``(id, full name)`` pairs) the heading names; None for none or several."""
    if not heading:
        return None
    named = {doctor_id for doctor_id, full_name in doctors if names_doctor(heading, full_name)}
    return named.pop() if len(named) == 1 else None
