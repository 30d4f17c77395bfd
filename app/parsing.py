"""Reading whole numbers from forms, query strings, cookies and imported files."""
from __future__ import annotations

INT_MAX = 2**31 - 1  # the largest value of an INTEGER column on PostgreSQL


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
