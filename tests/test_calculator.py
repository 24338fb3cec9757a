"""The math env's calculator: exact arithmetic, tidy output, and refusal of anything but arithmetic."""

from fractions import Fraction

import pytest

from rftgym.envs.math.calculator import MAX_LENGTH, calculate, evaluate, format_number


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("12 * 3.5", "42"),
        ("0.1 + 0.2", "0.3"),
        ("12 * (3 + 4)", "84"),
        ("10 / 4", "2.5"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("17 % 5", "2"),
        ("2 ** 10", "1024"),
        ("2 ** -3", "0.125"),
        ("-3 + +5", "2"),
        ("1 / 3", "0.3333333333"),
        ("2 / 3 * 3", "2"),
        ("sqrt(16)", "4"),
        ("sqrt(2.25)", "1.5"),
        ("sqrt(2)", "1.414213562"),
        ("2 ** 0.5", "1.414213562"),
        ("abs(-4.25)", "4.25"),
        ("min(3, 1.5, 2)", "1.5"),
        ("max(3, 1.5, 2)", "3"),
        ("min(7)", "7"),
        ("round(2.5)", "3"),
        ("round(-2.345, 2)", "-2.35"),
        ("round(1234.5, -2)", "1200"),
        ("1e3 * 2", "2000"),
        ("1232.25 - 0.25", "1232"),
        ("  400 * 5.1 / 100 ", "20.4"),
        ("10 ** 18", "1000000000000000000"),
        ("123456789012.123456 * 1", "123456789012.123456"),  # long literals keep their digits
        ("1_000.5 + 0.25", "1000.75"),
        ("-0.0", "0"),
        ("((1 / 999999999) ** 1000) ** 1000", "0"),  # tiny powers go inexact instead of 9000-digit fractions
    ],
)
def test_computes_arithmetic(expression, expected):
    assert calculate(expression) == expected


def test_arithmetic_is_exact_where_possible():
    assert evaluate("0.1 * 3") == Fraction(3, 10)
    assert isinstance(evaluate("sqrt(2)"), float)


@pytest.mark.parametrize(
    "value, text",
    [
        (Fraction(42), "42"),
        (Fraction(-5, 2), "-2.5"),
        (Fraction(1, 1024), "0.0009765625"),
        (2.0, "2"),
        (0.1 + 0.2, "0.3"),
        (1e-7 / 3, "0.00000003333333333"),
        (Fraction("123456789012.5"), "123456789012.5"),
        (123456789012.5, "123456789000"),  # inexact values keep 10 significant digits
    ],
)
def test_formats_numbers(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('ls')", "unsupported syntax: call of Attribute"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("x + 1", "unsupported syntax: Name 'x'"),
        ("(1).__class__", "unsupported syntax: Attribute"),
        ("math.pi", "unsupported syntax: Attribute"),
        ("[1, 2]", "unsupported syntax: List"),
        ("lambda: 1", "unsupported syntax: Lambda"),
        ("1 if 1 else 2", "unsupported syntax: IfExp"),
        ("1 < 2", "unsupported syntax: Compare"),
        ("'abc'", "unsupported constant 'abc'"),
        ("True + 1", "unsupported constant True"),
        ("1,234 * 2", "thousands separators"),
        ("2 ^ 3", "use ** for powers"),
        ("1 / 0", "division by zero"),
        ("5 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("0 ** -0.5", "division by zero"),
        ("9 ** 9 ** 9", "exponent too large"),
        ("2 ** 100", "result too large"),
        ("10 ** 19", "result too large"),
        ("0.001 ** -10", "result too large"),
        ("1e300", "result too large"),
        (".1e18999999999", "result too large"),
        ("1e-999999999", "number too small"),
        ("1e99999999999999999999", "number out of range"),
        ("99999999999 * 99999999999", "result too large"),
        ("(-8) ** (1 / 3)", "not a real number"),
        ("sqrt(-1)", "square root of a negative number"),
        ("sqrt(x=4)", "no keyword arguments"),
        ("min()", "min() takes at least 1"),
        ("round(1, 2, 3)", "round() takes 1 to 2"),
        ("round(1.5, 0.5)", "whole number of digits"),
        ("", "empty expression"),
        ("2 +", "invalid syntax"),
        ("-" * 100 + "1", "nested too deeply"),
        ("1 + " * 100 + "1", "expression too long"),
    ],
)
def test_rejects_with_clear_message(expression, message):
    with pytest.raises(ValueError) as error:
        evaluate(expression)
    assert message in str(error.value)


def test_length_limit_is_checked_before_parsing():
    with pytest.raises(ValueError, match="too long"):
        evaluate("1" * (MAX_LENGTH + 1))
    assert calculate("1" * 18) == "1" * 18


def test_non_string_input_is_refused():
    with pytest.raises(ValueError, match="must be a string"):
        evaluate(5)  # type: ignore[arg-type]
