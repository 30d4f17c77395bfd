"""Reading numbers and text from forms, query strings, cookies, files and scraped pages."""
from __future__ import annotations

import re

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict

INT_MAX = 2**31 - 1  # the largest value of an INTEGER column on PostgreSQL

# C0 control characters other than tab, line feed and carriage return. PostgreSQL refuses
# NUL in text, and none of them means anything in a name, a comment or a review.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def whole_number(raw: str | None, *, minimum: int = 0, maximum: int = INT_MAX) -> int | None:
    """``raw`` as an int when it is decimal digits within [minimum, maximum], else None.

    ``str.isdigit`` is not the test: it accepts "²", which ``int`` refuses. Decimal
    digits of any script ("١٢") are what ``int`` reads. Unbounded numbers would
    overflow integer columns.
    """
    raw = (raw or "").strip()
    if not raw or len(raw) > 19 or not raw.isdecimal():
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


def has_control_chars(text: str) -> bool:
    return _CONTROL_CHARS.search(text) is not None


def without_control_chars(text: str) -> str:
    """``text`` with NUL and the other C0 control characters removed (tab and line breaks kept)."""
    return _CONTROL_CHARS.sub("", text) if _CONTROL_CHARS.search(text) else text


class _CleanParameters(ImmutableMultiDict):
    """Query and form values with control characters removed as they are parsed."""

    def __init__(self, mapping=None):
        if isinstance(mapping, list):
            mapping = [(without_control_chars(key) if isinstance(key, str) else key,
                        without_control_chars(value) if isinstance(value, str) else value)
                       for key, value in mapping]
        super().__init__(mapping)


def with_clean_parameters(request_class: type[Request]) -> type[Request]:
    """A subclass of ``request_class`` whose query and form values arrive free of control characters."""
    return type(f"Clean{request_class.__name__}", (request_class,), {"parameter_storage_class": _CleanParameters})
