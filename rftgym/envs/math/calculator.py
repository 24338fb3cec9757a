"""A safe arithmetic calculator for model-written expressions.

The expression is parsed with :mod:`ast` and walked node by node; nothing is ever passed to
``eval``/``exec``. Only numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses and the
functions ``round``, ``abs``, ``min``, ``max`` and ``sqrt`` are allowed. Arithmetic is exact
(:class:`fractions.Fraction`) wherever it can be, so ``0.1 + 0.2`` is ``0.3``; only ``sqrt`` of a
non-square and fractional powers fall back to floats.

Limits keep hostile input cheap: the expression length, the nesting depth, the size of an exponent
and the magnitude of every intermediate result are bounded. Every failure is a :class:`ValueError`
whose message says what was wrong, e.g. ``"unsupported syntax: Name 'x'"`` or ``"division by zero"``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction

MAX_LENGTH = 300  # characters of one expression
MAX_DEPTH = 40  # nesting of operations and parentheses
MAX_EXPONENT = 1000  # |b| in a ** b
MAX_MAGNITUDE = Fraction(10) ** 18  # |value| of any intermediate result
MIN_EXPONENT10 = -30  # smallest decimal exponent of a nonzero number literal
SIGNIFICANT_DIGITS = 10  # shown for inexact results
MAX_EXACT_DECIMALS = 12  # an exact result with a longer (or endless) expansion is rounded instead

Number = Fraction | float
_TOO_LARGE = f"result too large (magnitude above {float(MAX_MAGNITUDE):.0e})"

_BINARY: dict[type, Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}

_HINTS = {
    ast.BitXor: " (use ** for powers)",
    ast.Tuple: " (write numbers without thousands separators)",
}


def evaluate(expression: str) -> Number:
    """Evaluate ``expression`` safely: a :class:`~fractions.Fraction` when exact, else a float.

    Raises:
        ValueError: The expression is malformed, uses anything not allowed, or breaks a limit.
    """
    if not isinstance(expression, str):
        raise ValueError(f"the expression must be a string, got {type(expression).__name__}")
    text = expression.strip()
    if not text:
        raise ValueError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression too long ({len(text)} characters, at most {MAX_LENGTH})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"invalid syntax: {e.msg}") from None
    except RecursionError:
        raise ValueError(f"expression nested too deeply (at most {MAX_DEPTH} levels)") from None
    return _Evaluator(text).visit(tree.body, 0)


def format_number(value: Number) -> str:
    """Show a calculator value: integers without ``.0``, exact short decimals as they are,
    anything else rounded to ``SIGNIFICANT_DIGITS`` significant digits (never in exponent form)."""
    if isinstance(value, Fraction) and _terminates_within(value, MAX_EXACT_DECIMALS):
        # Integer arithmetic and a string: Decimal division would round past 28 digits.
        scaled = value.numerator * (10**MAX_EXACT_DECIMALS // value.denominator)
        return _plain(Decimal(f"{scaled}e-{MAX_EXACT_DECIMALS}"))
    rounded = Decimal(repr(float(value)))
    if rounded.is_zero():
        return "0"
    digits = SIGNIFICANT_DIGITS - rounded.adjusted() - 1
    return _plain(round(rounded, digits))


def calculate(expression: str) -> str:
    """Evaluate ``expression`` and format the result (what the calculator tool answers)."""
    return format_number(evaluate(expression))


def _terminates_within(value: Fraction, decimals: int) -> bool:
    """Whether ``value`` has a finite decimal expansion of at most ``decimals`` digits."""
    return (10**decimals) % value.denominator == 0


def _plain(value: Decimal) -> str:
    """A decimal in positional notation without trailing zeros (``12.50`` -> ``12.5``, ``-0`` -> ``0``)."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _checked(value: Number | int) -> Number:
    """``value`` (ints, e.g. from ``//``, as Fractions) if it is finite and within ``MAX_MAGNITUDE``."""
    if isinstance(value, int):
        value = Fraction(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("result is not a finite number")
    if _magnitude(value) > MAX_MAGNITUDE:
        raise ValueError(_TOO_LARGE)
    return value


def _magnitude(value: Number) -> Number:
    """``abs(value)``, spelled out: mypy infers ``abs()`` of the ``Fraction | float`` union as ``object``."""
    return -value if value < 0 else value


def _exact(value: Number) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(repr(value))


def _power(base: Number, exponent: Number) -> Number:
    if _magnitude(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponent too large ({format_number(exponent)}, at most {MAX_EXPONENT} in size)")
    if base == 0 and exponent < 0:
        raise ValueError("division by zero")
    if isinstance(exponent, Fraction) and exponent.denominator == 1:
        power = int(exponent)
        # Bound the result before computing it: a huge integer power costs time and memory.
        if base != 0 and power * _log10(abs(_exact(base))) > 18.5:
            raise ValueError(_TOO_LARGE)
        # An exact power with a very long numerator or denominator (a tiny result) is not worth its
        # cost: (1/999999999) ** 1000 has 9000 digits, and raising that again would take seconds.
        if isinstance(base, float) or abs(power) * math.log10(max(abs(base.numerator), base.denominator)) > 60:
            return float(base) ** power
        return base**power
    if base < 0:
        raise ValueError("a negative number to a fractional power is not a real number")
    try:
        return float(base) ** float(exponent)
    except OverflowError:
        raise ValueError(_TOO_LARGE) from None


def _log10(value: Fraction) -> float:
    """log10 of a positive fraction, without a float conversion that could underflow to 0."""
    return math.log10(value.numerator) - math.log10(value.denominator)


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ValueError("square root of a negative number")
    exact = _exact(x)
    num, den = math.isqrt(exact.numerator), math.isqrt(exact.denominator)
    if num * num == exact.numerator and den * den == exact.denominator:
        return Fraction(num, den)
    return math.sqrt(float(x))


def _round(x: Number, ndigits: Number = Fraction(0)) -> Number:
    """Round half away from zero (as people round money), to ``ndigits`` decimals."""
    if not (isinstance(ndigits, Fraction) and ndigits.denominator == 1 and abs(ndigits) <= 15):
        raise ValueError("round() takes a whole number of digits between -15 and 15")
    scale = Fraction(10) ** int(ndigits)
    scaled = abs(_exact(x)) * scale
    rounded = math.floor(scaled + Fraction(1, 2)) / scale
    return rounded if x >= 0 else -rounded


# name -> (function, fewest arguments, most arguments or None for any number)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    "abs": (abs, 1, 1),
    "max": (lambda *args: max(args), 1, None),  # max(x) of one number is x, not an iteration
    "min": (lambda *args: min(args), 1, None),
    "round": (_round, 1, 2),
    "sqrt": (_sqrt, 1, 1),
}


class _Evaluator:
    """Walks an expression tree, allowing only arithmetic nodes."""

    def __init__(self, source: str):
        self.source = source

    def visit(self, node: ast.AST, depth: int) -> Number:
        if depth > MAX_DEPTH:
            raise ValueError(f"expression nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            value = self.visit(node.operand, depth + 1)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        # "1,234" parses as a tuple: the model most likely wrote a thousands separator.
        hint = _HINTS.get(type(node), "") if getattr(node, "elts", True) else ""
        raise ValueError(f"unsupported syntax: {_describe(node)}{hint}")

    def constant(self, node: ast.Constant) -> Number:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"unsupported constant {value!r} (only numbers are allowed)")
        if isinstance(value, int):
            return _checked(Fraction(value))
        # Read a decimal literal from its text, so 0.1 is exactly 1/10 and long literals keep their digits.
        text = (ast.get_source_segment(self.source, node) or repr(value)).replace("_", "")
        try:
            literal = Decimal(text)
        except InvalidOperation:  # an exponent beyond even what Decimal can hold
            raise ValueError(f"number out of range: {text}") from None
        # Bound the exponent before Fraction expands it: "1e999999999" would take forever.
        if not literal.is_zero() and not MIN_EXPONENT10 <= literal.adjusted() <= 18:
            raise ValueError(_TOO_LARGE if literal.adjusted() > 0 else f"number too small: {literal}")
        return _checked(Fraction(literal))

    def binary(self, node: ast.BinOp, depth: int) -> Number:
        left = self.visit(node.left, depth + 1)
        right = self.visit(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ValueError(f"unsupported operator {type(node.op).__name__}{_HINTS.get(type(node.op), '')}")
        if right == 0 and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            raise ValueError("division by zero")
        return _checked(op(left, right))

    def call(self, node: ast.Call, depth: int) -> Number:
        known = ", ".join(_FUNCTIONS)
        if not isinstance(node.func, ast.Name):
            raise ValueError(f"unsupported syntax: call of {_describe(node.func)} (only {known} can be called)")
        name = node.func.id
        if name not in _FUNCTIONS:
            raise ValueError(f"unknown function {name!r} (available: {known})")
        if node.keywords:
            raise ValueError(f"{name}() takes no keyword arguments")
        fn, fewest, most = _FUNCTIONS[name]
        if len(node.args) < fewest or (most is not None and len(node.args) > most):
            count = str(fewest) if fewest == most else f"{fewest} to {most}" if most else f"at least {fewest}"
            raise ValueError(f"{name}() takes {count} argument(s), got {len(node.args)}")
        args = [self.visit(arg, depth + 1) for arg in node.args]
        return _checked(fn(*args))


def _describe(node: ast.AST) -> str:
    """A node's kind for error messages, with the name of a bare name (``Name 'x'``)."""
    kind = type(node).__name__
    return f"{kind} {node.id!r}" if isinstance(node, ast.Name) else kind
