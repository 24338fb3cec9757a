"""Numeric answers in free text: extraction and GSM8K-style normalisation.

``extract_answer`` finds the answer a response commits to (a ``#### X`` marker, "the answer is X",
``\\boxed{X}``, else the last number), ``normalize_number`` turns a number written for people
(``$1,234.50``, ``-7``, ``15%``, ``3/4``, ``12 km``) into a :class:`~decimal.Decimal`, and
``numbers_match`` compares two such strings and ``find_numbers`` lists every number of a text.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

# One number as people write it: an optional sign and currency symbol (either order), then digits
# with optional thousands separators, decimals and exponent, or a simple fraction "3/4".
_NUMBER = re.compile(
    r"""
    (?<![\w.,])                                 # not the tail of a word, id or longer number
    (?P<sign>[-+\u2212])?
    (?:[$\u20ac\u00a3]\s?)?                     # $ EUR GBP
    (?P<sign2>[-+\u2212])?
    (?P<body>
        \d+\s*/\s*\d+(?!\d|[.,]\d)              # a fraction
      | (?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?
      | \.\d+
    )
    (?!\d|,\d)                                  # nor its head ("1,5" and "1,2,3" are no numbers)
    """,
    re.VERBOSE,
)
_MARKER = re.compile(r"####")
_ANSWER_PHRASE = re.compile(
    r"answer(?:\s+is|\s*[:=])[\s*:=]*(?:[a-z]+\s+){0,2}?(?=[-+\u2212$\u20ac\u00a3.\d])", re.IGNORECASE
)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def extract_answer(text: str) -> str | None:
    """The number ``text`` gives as its answer, as written (e.g. ``"$1,234.50"``), or None.

    In order of preference: the first number after the last ``####`` marker, the number right after
    the last "answer is" / "answer:" / "answer =", the number in the last ``\\boxed{...}``, the
    last number anywhere in ``text``.
    """
    if not isinstance(text, str):
        return None
    markers = list(_MARKER.finditer(text))
    if markers:
        found = _first_number(text[markers[-1].end() :].split("\n", 1)[0])
        if found:
            return found
    for phrase in reversed(list(_ANSWER_PHRASE.finditer(text))):
        match = _NUMBER.match(text, phrase.end())
        if match:
            return match.group(0).strip()
    boxes = _BOXED.findall(text)
    if boxes:
        found = _first_number(boxes[-1])
        if found:
            return found
    numbers = list(_NUMBER.finditer(text))
    return numbers[-1].group(0).strip() if numbers else None


def normalize_number(text: str) -> Decimal | None:
    """The value of the single number in ``text``, or None if it holds no number or several.

    Thousands separators, currency symbols ($ EUR GBP), a leading ``+``, surrounding words and units
    ("dollars", "km", "%") are ignored; ``3/4`` is a fraction; ``42.0``, ``42.`` and ``42`` are equal.
    """
    if not isinstance(text, str):
        return None
    matches = list(_NUMBER.finditer(text))
    if len(matches) != 1:
        return None
    return _value(matches[0])


def numbers_match(predicted: str, reference: str, rel_tol: float = 1e-6, abs_tol: float = 0.0) -> bool:
    """Whether two numeric answers (strings as :func:`normalize_number` reads them) are equal,
    exactly or within ``rel_tol`` relative / ``abs_tol`` absolute tolerance. A side without a
    number never matches."""
    got, want = normalize_number(predicted), normalize_number(reference)
    if got is None or want is None:
        return False
    return got == want or math.isclose(float(got), float(want), rel_tol=rel_tol, abs_tol=abs_tol)


def find_numbers(text: str) -> list[Decimal]:
    """The values of every number in ``text``, in order (as :func:`normalize_number` reads each)."""
    values = [_value(m) for m in _NUMBER.finditer(text)] if isinstance(text, str) else []
    return [v for v in values if v is not None]


def _first_number(text: str) -> str | None:
    match = _NUMBER.search(text)
    return match.group(0).strip() if match else None


def _value(match: re.Match) -> Decimal | None:
    """The Decimal a ``_NUMBER`` match denotes (None for a fraction over zero)."""
    body = match["body"].replace(",", "")
    negative = "-" in ((match["sign"] or "") + (match["sign2"] or "")).replace("\u2212", "-")
    try:
        if "/" in body:
            numerator, denominator = (Decimal(part.strip()) for part in body.split("/"))
            value = numerator / denominator
        else:
            value = Decimal(body)
    except (InvalidOperation, ZeroDivisionError):
        return None
    return -value if negative else value
