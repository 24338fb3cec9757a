"""Procedurally generated multi-step arithmetic word problems.

Every problem is a pure function of ``(split, index, difficulty)``: the same arguments always give
the same :class:`~rftgym.types.Task`. Train and test draw from separate seed streams, the test
split is a fixed list of ``TEST_SIZE`` problems, and a train problem whose text is in the test split
is redrawn, so the splits never share a problem.

Difficulty 1 needs two calculation steps with small whole numbers, difficulty 2 three steps with
bigger numbers and some money amounts, difficulty 3 four or five steps with money and percentages.
Without an explicit difficulty, index ``i`` has difficulty ``1 + i % 3``.

Each task's ``solution`` is the list of calculator steps ``{"expression", "result"}`` that solves
it; every expression uses only the problem's numbers and earlier results, and its result is what
:func:`~rftgym.envs.math.calculator.calculate` answers, so the last result is the ``answer``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from random import Random

from rftgym.envs.math.calculator import evaluate, format_number
from rftgym.types import Task

SPLITS = ("train", "test")
LEVELS = (1, 2, 3)
TEST_SIZE = 300

_ID = re.compile(r"math-(train|test)-(\d+)(?:-d([1-3]))?")

_NAMES = (
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Isla",
    "Jonas",
    "Kemi",
    "Liam",
    "Mei",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
)
# Goods with a plausible price range in whole dollars.
_GOODS = {
    "notebooks": (2, 9),
    "pens": (1, 4),
    "mugs": (5, 15),
    "candles": (4, 18),
    "socks": (3, 10),
    "plant pots": (6, 25),
    "puzzles": (10, 30),
    "towels": (8, 25),
    "batteries": (2, 10),
    "picture frames": (8, 35),
    "water bottles": (8, 30),
    "keychains": (2, 8),
}
_FRUIT = ("apples", "oranges", "pears", "lemons", "peaches", "mangoes")
_STOCK = ("rice", "soap", "paper towels", "canned beans", "light bulbs", "dog food")
_WISHES = ("bike", "tablet", "guitar", "telescope", "skateboard", "camera")
_BAKES = ("bread", "pizza dough", "cookies", "muffins")


#: A number in a problem: a whole number, or an exact Fraction (money, a rate, a scale factor).
Quantity = Fraction | int


class _Work:
    """The solution of one problem, built step by step with the calculator itself, so every
    recorded result is exactly what the calculator tool answers for its expression."""

    def __init__(self) -> None:
        self.steps: list[dict[str, str]] = []

    def step(self, expression: str) -> Fraction:
        value = evaluate(expression)
        # The templates only add, subtract, multiply and divide, which the calculator keeps exact.
        assert isinstance(value, Fraction), f"inexact step {expression!r}"
        self.steps.append({"expression": expression, "result": format_number(value)})
        return value


def _num(value: Quantity) -> str:
    """A quantity as it appears in text and expressions (``2.5``, ``12``)."""
    return format_number(Fraction(value))


def _money(value: Quantity) -> str:
    """A dollar amount for the text: ``$12``, ``$3.50``, ``$1,250``."""
    value = Fraction(value)
    if value.denominator == 1:
        return f"${value.numerator:,}"
    return f"${Decimal(value.numerator) / Decimal(value.denominator):,.2f}"


def _multiple(rng: Random, low: int, high: int, unit: str) -> Fraction:
    """A random multiple of ``unit`` (e.g. ``"0.25"``) between ``low`` and ``high`` units of it."""
    return rng.randint(low, high) * Fraction(unit)


# ----- templates: (rng, level, work) -> prompt text; the last work step is the answer -----
# A name that holds a whole number at one level and a Fraction at another is declared a
# ``Quantity`` at the top of its template.


def _shopping(rng: Random, level: int, work: _Work) -> str:
    p1: Quantity
    p2: Quantity
    name = rng.choice(_NAMES)
    (goods1, (low1, high1)), (goods2, (low2, high2)) = rng.sample(sorted(_GOODS.items()), 2)
    if level == 1:
        n, price = rng.randint(2, 8), rng.randint(low1, min(high1, 12))
        bill = next(b for b in (10, 20, 50, 100) if b > n * price)  # 8 * $12 stays below $100
        total = work.step(f"{n} * {price}")
        work.step(f"{bill} - {_num(total)}")
        return (
            f"{name} buys {n} {goods1} at {_money(price)} each and pays with a {_money(bill)} bill. "
            f"How much change, in dollars, does {name} get back?"
        )
    n1, n2 = rng.randint(2, 8), rng.randint(2, 8)
    if level == 2:
        p1, p2 = _multiple(rng, 4 * low1, 4 * high1, "0.25"), _multiple(rng, 4 * low2, 4 * high2, "0.25")
        a, b = work.step(f"{n1} * {_num(p1)}"), work.step(f"{n2} * {_num(p2)}")
        work.step(f"{_num(a)} + {_num(b)}")
        return (
            f"{name} buys {n1} {goods1} for {_money(p1)} each and {n2} {goods2} for {_money(p2)} each. "
            f"How much does {name} spend in total, in dollars?"
        )
    p1, p2, pct = rng.randint(low1, high1), rng.randint(low2, high2), rng.choice((10, 15, 20, 25, 30, 35, 40))
    a, b = work.step(f"{n1} * {p1}"), work.step(f"{n2} * {p2}")
    subtotal = work.step(f"{_num(a)} + {_num(b)}")
    discount = work.step(f"{_num(subtotal)} * {pct} / 100")
    work.step(f"{_num(subtotal)} - {_num(discount)}")
    return (
        f"{name} buys {n1} {goods1} for {_money(p1)} each and {n2} {goods2} for {_money(p2)} each. "
        f"At the register a coupon takes {pct}% off the whole purchase. "
        f"How much does {name} pay, in dollars?"
    )


def _recipe(rng: Random, level: int, work: _Work) -> str:
    factor: Quantity
    if level == 1:
        serves, factor, grams = rng.choice((2, 3, 4, 5, 6)), rng.randint(2, 5), 25 * rng.randint(4, 20)
        people = serves * factor
        scale = work.step(f"{people} / {serves}")
        work.step(f"{grams} * {_num(scale)}")
        return (
            f"A soup recipe for {serves} people needs {grams} grams of lentils. "
            f"How many grams of lentils are needed to make the soup for {people} people?"
        )
    if level == 2:
        serves, factor = rng.choice((2, 4, 6, 8)), rng.randint(2, 4)
        milk, flour = _multiple(rng, 1, 12, "0.25"), _multiple(rng, 2, 12, "0.25")
        people = serves * factor
        per_batch = work.step(f"{_num(milk)} + {_num(flour)}")
        scale = work.step(f"{people} / {serves}")
        work.step(f"{_num(per_batch)} * {_num(scale)}")
        return (
            f"A pancake recipe that serves {serves} uses {_num(milk)} cups of milk and {_num(flour)} cups "
            f"of flour. How many cups of milk and flour together are needed to serve {people} people?"
        )
    bake = rng.choice(_BAKES)
    batch, factor = rng.choice((4, 6, 8)), rng.choice((Fraction(3, 2), 2, Fraction(5, 2), 3, 4))
    # With a half-batch factor the flour must come in 200 g lots so the kilograms stay at one decimal.
    grams = (200 * rng.randint(1, 4)) if Fraction(factor).denominator == 2 else 100 * rng.randint(2, 8)
    per_kg = _multiple(rng, 15, 60, "0.1")
    count = int(batch * factor)
    scale = work.step(f"{count} / {batch}")
    total_grams = work.step(f"{grams} * {_num(scale)}")
    kilograms = work.step(f"{_num(total_grams)} / 1000")
    work.step(f"{_num(kilograms)} * {_num(per_kg)}")
    return (
        f"A bakery's {bake} recipe uses {grams} g of flour for {batch} trays. Today the bakery makes "
        f"{count} trays. Flour costs {_money(per_kg)} per kilogram. "
        f"How much, in dollars, does the flour for today cost?"
    )


def _travel(rng: Random, level: int, work: _Work) -> str:
    name = rng.choice(_NAMES)
    if level == 1:
        speed, hours = 5 * rng.randint(6, 18), rng.randint(2, 5)
        later = rng.choice([h for h in range(2, 9) if h != hours])
        rate = work.step(f"{speed * hours} / {hours}")
        work.step(f"{_num(rate)} * {later}")
        return (
            f"A bus travels {speed * hours} km in {hours} hours at a steady speed. "
            f"How many kilometres does it travel in {later} hours at that speed?"
        )
    if level == 2:
        v1, v2 = rng.randint(10, 30), rng.randint(10, 30)
        t1, t2 = _multiple(rng, 2, 8, "0.5"), _multiple(rng, 2, 8, "0.5")
        a, b = work.step(f"{v1} * {_num(t1)}"), work.step(f"{v2} * {_num(t2)}")
        work.step(f"{_num(a)} + {_num(b)}")
        return (
            f"{name} cycles at {v1} km/h for {_num(t1)} hours, takes a break, then cycles at {v2} km/h "
            f"for {_num(t2)} hours. How far does {name} cycle in total, in km?"
        )
    # A round trip of a whole number of 100 km keeps litres at one decimal and the cost at two.
    one_way, per_100 = 50 * rng.randint(2, 9), _multiple(rng, 50, 95, "0.1")
    price, parking = _multiple(rng, 12, 22, "0.1"), rng.randint(4, 25)
    distance = work.step(f"{one_way} * 2")
    litres = work.step(f"{_num(distance)} * {_num(per_100)} / 100")
    fuel = work.step(f"{_num(litres)} * {_num(price)}")
    work.step(f"{_num(fuel)} + {parking}")
    return (
        f"{name} drives to a city {one_way} km away and back again. The car uses {_num(per_100)} litres "
        f"of fuel per 100 km, fuel costs {_money(price)} per litre, and parking in the city costs "
        f"{_money(parking)}. How much does the trip cost in total, in dollars?"
    )


def _savings(rng: Random, level: int, work: _Work) -> str:
    weekly: Quantity
    saved: Quantity
    name = rng.choice(_NAMES)
    if level == 1:
        start, weekly, weeks = rng.randint(10, 200), rng.randint(5, 40), rng.randint(3, 12)
        added = work.step(f"{weekly} * {weeks}")
        work.step(f"{start} + {_num(added)}")
        return (
            f"{name} has {_money(start)} in a piggy bank and adds {_money(weekly)} every week. "
            f"How much money, in dollars, will {name} have after {weeks} weeks?"
        )
    if level == 2:
        earn = rng.randint(15, 60)
        spend, weeks, saved = rng.randint(3, earn - 5), rng.randint(4, 15), rng.randint(10, 100)
        price = saved + weeks * (earn - spend)
        wish = rng.choice(_WISHES)
        missing = work.step(f"{price} - {saved}")
        net = work.step(f"{earn} - {spend}")
        work.step(f"{_num(missing)} / {_num(net)}")
        return (
            f"{name} wants a {wish} that costs {_money(price)} and has already saved {_money(saved)}. "
            f"Every week {name} earns {_money(earn)} walking dogs and spends {_money(spend)} of it on "
            f"snacks, saving the rest. How many weeks will it take {name} to save enough?"
        )
    wage, pct, weeks = rng.randint(200, 900), rng.randint(5, 30), rng.randint(4, 20)
    total = Fraction(wage * pct * weeks, 100)
    spent, gift = rng.randint(int(total * Fraction(1, 5)), int(total * Fraction(4, 5))), rng.randint(20, 150)
    wish = rng.choice(_WISHES)
    weekly = work.step(f"{wage} * {pct} / 100")
    saved = work.step(f"{_num(weekly)} * {weeks}")
    left = work.step(f"{_num(saved)} - {spent}")
    work.step(f"{_num(left)} + {gift}")
    return (
        f"{name} earns {_money(wage)} a week and puts {pct}% of it into savings. After {weeks} weeks "
        f"{name} spends {_money(spent)} of the savings on a {wish}, then puts a {_money(gift)} birthday "
        f"gift into savings as well. How much, in dollars, is in {name}'s savings now?"
    )


def _bill(rng: Random, level: int, work: _Work) -> str:
    food: Quantity
    total: Quantity
    tip: Quantity
    if level == 1:
        people, share, drink = rng.randint(2, 6), rng.randint(8, 30), rng.randint(2, 6)
        each = work.step(f"{people * share} / {people}")
        work.step(f"{_num(each)} + {drink}")
        return (
            f"{people} friends split a {_money(people * share)} pizza bill equally, and each of them also "
            f"pays {_money(drink)} for their own drink. How much, in dollars, does each friend pay?"
        )
    if level == 2:
        people, tip = rng.randint(2, 6), rng.randint(3, 10)
        total = people * _multiple(rng, 60, 200, "0.25")
        drinks = _multiple(rng, 8, int(total - tip), "0.5")  # at most half of what is not tip
        food = total - tip - drinks
        meal = work.step(f"{_num(food)} + {_num(drinks)}")
        whole = work.step(f"{_num(meal)} + {tip}")
        work.step(f"{_num(whole)} / {people}")
        return (
            f"At a restaurant, {people} coworkers order food for {_money(food)} and drinks for "
            f"{_money(drinks)}, and they leave a {_money(tip)} tip. If they split the whole cost equally, "
            f"how much, in dollars, does each person pay?"
        )
    subtotal, pct = 20 * rng.randint(3, 15), rng.choice((10, 15, 20, 25))
    food = rng.randint(subtotal // 2, subtotal - 5)
    total = subtotal * (100 + pct) // 100
    # Only party sizes that divide the bill into whole cents.
    people = rng.choice([n for n in range(2, 9) if (100 * total) % n == 0])
    meal = work.step(f"{food} + {subtotal - food}")
    tip = work.step(f"{_num(meal)} * {pct} / 100")
    whole = work.step(f"{_num(meal)} + {_num(tip)}")
    work.step(f"{_num(whole)} / {people}")
    return (
        f"{people} friends have dinner: the food comes to {_money(food)} and the drinks to "
        f"{_money(subtotal - food)}. They add a {pct}% tip on the food and drinks and split the final "
        f"bill equally. How much, in dollars, does each friend pay?"
    )


def _inventory(rng: Random, level: int, work: _Work) -> str:
    sold: Quantity
    if level == 1:
        fruit, crates, per_crate = rng.choice(_FRUIT), rng.randint(3, 15), rng.randint(6, 24)
        sold = rng.randint(1, crates * per_crate - 1)
        stock = work.step(f"{crates} * {per_crate}")
        work.step(f"{_num(stock)} - {sold}")
        return (
            f"A grocery store receives {crates} crates of {fruit} with {per_crate} {fruit} in each crate. "
            f"By closing time it has sold {sold} {fruit}. How many {fruit} are left?"
        )
    if level == 2:
        goods, start = rng.choice(_STOCK), rng.randint(50, 300)
        deliveries, per_delivery = rng.randint(2, 6), rng.randint(10, 60)
        sent = rng.randint(20, start + deliveries * per_delivery - 1)
        received = work.step(f"{deliveries} * {per_delivery}")
        held = work.step(f"{start} + {_num(received)}")
        work.step(f"{_num(held)} - {sent}")
        return (
            f"A warehouse holds {start} boxes of {goods}. This week it receives {deliveries} deliveries "
            f"of {per_delivery} boxes each and sends {sent} boxes out to stores. "
            f"How many boxes are in the warehouse at the end of the week?"
        )
    goods, (low, high) = rng.choice(sorted(_GOODS.items()))
    count, cost, pct = 20 * rng.randint(2, 10), _multiple(rng, 2 * low, 2 * high, "0.5"), 5 * rng.randint(8, 18)
    # The cheapest half-dollar price that still makes a profit, plus a random margin.
    price = Fraction(int(2 * cost * 100 / pct) + 1 + rng.randint(0, 8), 2)
    spent = work.step(f"{count} * {_num(cost)}")
    sold = work.step(f"{count} * {pct} / 100")
    revenue = work.step(f"{_num(sold)} * {_num(price)}")
    work.step(f"{_num(revenue)} - {_num(spent)}")
    return (
        f"A shop buys {count} {goods} for {_money(cost)} each. It sells {pct}% of them at {_money(price)} "
        f"each and donates the rest. What is the shop's profit, in dollars?"
    )


def _wages(rng: Random, level: int, work: _Work) -> str:
    rate: Quantity
    name = rng.choice(_NAMES)
    if level == 1:
        hours, days, rate = rng.randint(3, 9), rng.randint(2, 6), rng.randint(10, 25)
        total_hours = work.step(f"{hours} * {days}")
        work.step(f"{_num(total_hours)} * {rate}")
        return (
            f"{name} works {hours} hours a day for {days} days at {_money(rate)} per hour. "
            f"How much, in dollars, does {name} earn?"
        )
    if level == 2:
        hours, days, rate = rng.randint(3, 9), rng.randint(3, 12), _multiple(rng, 24, 60, "0.5")
        fares = rng.randint(5, 40)
        total_hours = work.step(f"{hours} * {days}")
        pay = work.step(f"{_num(total_hours)} * {_num(rate)}")
        work.step(f"{_num(pay)} - {fares}")
        return (
            f"{name} works {hours} hours a day for {days} days, earning {_money(rate)} an hour, and spends "
            f"{_money(fares)} on bus fares to get to work. How much, in dollars, is left of the pay after "
            f"the bus fares?"
        )
    # A half-dollar rate keeps time and a half at whole cents.
    regular, extra, rate = rng.randint(35, 40), rng.randint(2, 12), _multiple(rng, 24, 60, "0.5")
    overtime = work.step(f"{regular + extra} - {regular}")
    base = work.step(f"{regular} * {_num(rate)}")
    premium_rate = work.step(f"{_num(rate)} * 1.5")
    premium = work.step(f"{_num(overtime)} * {_num(premium_rate)}")
    work.step(f"{_num(base)} + {_num(premium)}")
    return (
        f"{name} is paid {_money(rate)} per hour for the first {regular} hours of a week and time and a "
        f"half (1.5 times the hourly rate) for every hour beyond that. Last week {name} worked "
        f"{regular + extra} hours. How much, in dollars, was {name} paid for the week?"
    )


def _reading(rng: Random, level: int, work: _Work) -> str:
    name = rng.choice(_NAMES)
    if level == 1:
        per_day, days = rng.randint(10, 40), rng.randint(2, 7)
        pages = rng.randint(per_day * days + 10, 400)
        read = work.step(f"{per_day} * {days}")
        work.step(f"{pages} - {_num(read)}")
        return (
            f"{name}'s book has {pages} pages. {name} reads {per_day} pages every day for {days} days. "
            f"How many pages are left to read?"
        )
    r1, d1, r2, d2 = rng.randint(10, 40), rng.randint(2, 6), rng.randint(10, 40), rng.randint(2, 6)
    first, then = work.step(f"{r1} * {d1}"), work.step(f"{r2} * {d2}")
    read = work.step(f"{_num(first)} + {_num(then)}")
    opening = f"{name} reads {r1} pages a day for {d1} days, then {r2} pages a day for the next {d2} days"
    if level == 2:
        return f"{opening}. How many pages has {name} read in total?"
    # A page count dividing 10000 keeps the percentage at two decimals at most.
    pages = rng.choice([p for p in (400, 500, 625, 1000) if p > read])
    left = work.step(f"{pages} - {_num(read)}")
    work.step(f"{_num(left)} / {pages} * 100")
    return (
        f"{name} starts a {pages}-page novel. {opening}. What percentage of the novel does {name} still have to read?"
    )


TEMPLATES: dict[str, Callable[[Random, int, _Work], str]] = {
    "shopping": _shopping,
    "recipe": _recipe,
    "travel": _travel,
    "savings": _savings,
    "bill": _bill,
    "inventory": _inventory,
    "wages": _wages,
    "reading": _reading,
}


# ----- the splits -----


def default_difficulty(index: int) -> int:
    """The difficulty of problem ``index`` when none is asked for: levels cycle 1, 2, 3."""
    return LEVELS[index % len(LEVELS)]


def task_id(split: str, index: int, difficulty: int | None = None) -> str:
    """The id of a problem: ``math-test-00042``, with ``-d<level>`` when the difficulty is not the
    index's default (``math-train-00007-d3``)."""
    suffix = "" if difficulty in (None, default_difficulty(index)) else f"-d{difficulty}"
    return f"math-{split}-{index:05d}{suffix}"


def parse_task_id(task_id: str) -> tuple[str, int, int | None]:
    """``(split, index, difficulty or None)`` of a problem id.

    Raises:
        ValueError: ``task_id`` is not a math problem id.
    """
    match = _ID.fullmatch(task_id)
    if not match:
        raise ValueError(f"not a math problem id: {task_id!r} (expected e.g. 'math-train-00042')")
    return match[1], int(match[2]), int(match[3]) if match[3] else None


def generate(split: str, index: int, difficulty: int | None = None) -> Task:
    """The problem ``index`` of ``split`` (``"train"`` or ``"test"``), always the same one.

    Args:
        split: ``"train"`` (any index >= 0) or ``"test"`` (indices below ``TEST_SIZE``).
        index: Which problem.
        difficulty: 1, 2 or 3; None for the index's default (``1 + index % 3``). Test problems have
            their default difficulty only.

    Raises:
        ValueError: Unknown split, negative index, or a difficulty the problem cannot have.
        IndexError: A test index beyond ``TEST_SIZE``.
    """
    level = _check(split, index, difficulty)
    if split == "test":
        if index >= TEST_SIZE:
            raise IndexError(f"the test split has {TEST_SIZE} problems; index {index} is out of range")
        return _copy(_test_split()[index])
    test_texts = _test_texts()
    attempt = 0
    while True:
        task = _draw("train", index, level, attempt)
        if task.prompt not in test_texts:
            return task
        attempt += 1


def fixed_test_tasks(num_tasks: int | None = None) -> list[Task]:
    """The fixed test problems (the first ``num_tasks`` of them), in index order."""
    return [_copy(task) for task in _test_split()[:num_tasks]]


def _check(split: str, index: int, difficulty: int | None) -> int:
    """The level of the problem asked for, after checking the arguments."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; the math problems have {list(SPLITS)}")
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"a problem index is an int >= 0, got {index!r}")
    if difficulty is not None and difficulty not in LEVELS:
        raise ValueError(f"difficulty must be one of {list(LEVELS)}, got {difficulty!r}")
    level = difficulty or default_difficulty(index)
    if split == "test" and level != default_difficulty(index):
        raise ValueError(f"test problem {index} has difficulty {default_difficulty(index)}, not {level}")
    return level


def _draw(split: str, index: int, level: int, attempt: int) -> Task:
    """One problem from the seed stream of ``(split, index, level, attempt)``."""
    # A string seed is hashed with SHA-512 by Random: stable across runs and platforms.
    rng = Random(f"rftgym.math/{split}/{index}/{level}/{attempt}")
    template = rng.choice(sorted(TEMPLATES))
    work = _Work()
    prompt = TEMPLATES[template](rng, level, work)
    return Task(
        id=task_id(split, index, level),
        split=split,
        prompt=prompt,
        answer=work.steps[-1]["result"],
        solution=work.steps,
        metadata={"difficulty": level, "template": template},
    )


@functools.lru_cache(maxsize=1)
def _test_split() -> tuple[Task, ...]:
    """The test problems, each redrawn until its text is new, so no two are the same."""
    tasks: list[Task] = []
    seen: set[str] = set()
    for index in range(TEST_SIZE):
        attempt = 0
        while (task := _draw("test", index, default_difficulty(index), attempt)).prompt in seen:
            attempt += 1
        seen.add(task.prompt)
        tasks.append(task)
    return tuple(tasks)


@functools.lru_cache(maxsize=1)
def _test_texts() -> frozenset[str]:
    return frozenset(task.prompt for task in _test_split())


def _copy(task: Task) -> Task:
    """A copy callers may change without touching the cached split."""
    return Task.from_dict(task.to_dict())
