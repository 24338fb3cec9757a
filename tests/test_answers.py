"""GSM8K-style numeric answers: extraction from free text, normalisation and matching."""

from decimal import Decimal

import pytest

from rftgym.rewards import extract_answer, normalize_number, numbers_match


@pytest.mark.parametrize(
    "text, expected",
    [
        ("$1,234.50", "1234.5"),
        ("1234.5", "1234.5"),
        ("1,234.50", "1234.5"),
        ("1,234,567", "1234567"),
        ("-7", "-7"),
        ("\u22127", "-7"),
        ("-$7.25", "-7.25"),
        ("$-7.25", "-7.25"),
        ("+5", "5"),
        ("42.0", "42"),
        ("42.00", "42"),
        ("3.", "3"),
        (".5", "0.5"),
        ("15%", "15"),
        ("12 km", "12"),
        ("1234.5 dollars", "1234.5"),
        ("\u20ac 9.99", "9.99"),
        ("\u00a312", "12"),
        ("3/4", "0.75"),
        ("1e3", "1000"),
        ("  about 18 apples. ", "18"),
    ],
)
def test_normalize_number(text, expected):
    assert normalize_number(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "no number here", "3 apples and 5 pears", "1,5", "[1,2,3]", "5/0"])
def test_normalize_number_without_a_single_number(text):
    assert normalize_number(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("#### 1234.5", "1234.5"),
        ("#### $1,234.50", "$1,234.50"),
        ("The answer is 1,234.5 dollars.", "1,234.5"),
        ("The final answer is $18.", "$18"),
        ("Answer: 42", "42"),
        ("**Answer:** 42", "42"),
        ("answer = -3", "-3"),
        ("The answer is approximately 3.14 m", "3.14"),
        ("So the total is \\boxed{72}.", "72"),
        ("\\boxed{3/4}", "3/4"),
        ("I have 3 apples and 5 pears, so 8 fruits in all.", "8"),
        ("x = 3, then 10 - 5 = 5", "5"),
        ("To answer this we compute 3 * 4 = 12, and 12 + 3 = 15.", "15"),
        # A marker beats a later number; the last marker wins.
        ("Step 1: 4 * 3 = 12\n#### 12\nThat took 2 steps.", "12"),
        ("#### 5\nWait, I was wrong.\n#### 6", "6"),
        # "answer is" beats \boxed and the last number.
        ("The answer is 7, since \\boxed{8} was a typo for 9", "7"),
        ("The answer is \\boxed{12}", "12"),
        ("We get 1, 2 and finally $1,234.50", "$1,234.50"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["", "I don't know.", "#### none", "words only"])
def test_extract_answer_without_a_number(text):
    assert extract_answer(text) is None


def test_an_empty_marker_falls_back_to_the_last_number():
    assert extract_answer("The total is 40.\n####") == "40"


@pytest.mark.parametrize(
    "predicted, reference",
    [
        ("$1,234.50", "1234.5"),
        ("1234.5", "1,234.50"),
        ("42.0", "42"),
        ("3.", "3"),
        ("-7", "\u22127"),
        ("3/4", "0.75"),
        ("1234.5 dollars", "$1,234.50"),
        ("1000000", "1000000.0000001"),  # within the relative tolerance
    ],
)
def test_numbers_match(predicted, reference):
    assert numbers_match(predicted, reference)


@pytest.mark.parametrize(
    "predicted, reference",
    [
        ("41", "42"),
        ("-7", "7"),
        ("", "0"),
        ("none", "none"),
        ("1 or 2", "1"),
        ("0.1", "0"),
    ],
)
def test_numbers_do_not_match(predicted, reference):
    assert not numbers_match(predicted, reference)


def test_tolerance_is_relative():
    assert numbers_match("100.5", "100", rel_tol=0.01)
    assert not numbers_match("100.5", "100")


def test_extract_then_match_end_to_end():
    response = "Each friend pays 37.5 + 12 = 49.5.\nThe answer is $49.50."
    assert numbers_match(extract_answer(response), "49.5")
