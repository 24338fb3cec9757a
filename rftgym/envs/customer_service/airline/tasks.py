"""The airline task templates and the airline task suite (``SUITE``).

To write a new test split version: bump ``VERSION`` and run
``python -c "from rftgym.envs.customer_service.airline.tasks import *; SUITE.write_test_file(TEST_SIZE)"``.
"""

from __future__ import annotations

from pathlib import Path
from random import Random

from rftgym.envs.customer_service.airline.data import AIRPORTS, DATES, TODAY, generate, may_cancel, nonfree_bags
from rftgym.envs.customer_service.db import Tables
from rftgym.envs.customer_service.scenarios import REFUSAL, Kind, NoFit, Scenario, TaskSuite, call, pick

VERSION = 1
TEST_SIZE = 63
CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}


# ----- helpers -----


def _pick(rng: Random, t: Tables, fits) -> tuple[dict, dict]:
    """A random reservation for which ``fits(reservation, user)`` holds, with its customer."""
    reservation = pick(rng, t["reservations"], lambda r: fits(r, t["users"][r["user_id"]]))
    return t["users"][reservation["user_id"]], reservation


def _flights(t: Tables, reservation: dict) -> list[dict]:
    return [t["flights"][f"{f['flight_number']}/{f['date']}"] for f in reservation["flights"]]


def _changeable(reservation: dict) -> bool:
    """Active, and no flight flown yet."""
    return reservation["status"] == "active" and all(f["date"] >= TODAY for f in reservation["flights"])


def _cards(user: dict) -> list[dict]:
    """The customer's credit cards, in a fixed order."""
    return [m for _, m in sorted(user["payment_methods"].items()) if m["source"] == "credit_card"]


def _card_text(card: dict) -> str:
    return f"my {card['brand']} card ending in {card['last_four']}"


def _scenario(
    kind: Kind, user: dict, goal: str, request: str, actions: list[dict], reply: str = "", outputs: list | None = None
) -> Scenario:
    identity = f"My user ID is {user['user_id']}."
    name = user["name"]
    instructions = (
        f"You are {name['first_name']} {name['last_name']}, user id {user['user_id']}. {goal} "
        f"If the agent asks you to identify yourself, say: {identity}"
    )
    return Scenario(
        kind,
        request,
        instructions,
        identity,
        [call("get_user_details", user_id=user["user_id"]), *actions],
        reply,
        outputs or [],
    )


# ----- templates -----


def cancel_eligible(rng: Random, t: Tables) -> Scenario:
    user, reservation = _pick(rng, t, lambda r, u: _changeable(r) and may_cancel(r, _flights(t, r)))
    r = reservation["reservation_id"]
    return _scenario(
        "write",
        user,
        f"Your plans changed and you want to cancel reservation {r}.",
        f"Hi, my plans changed and I need to cancel my reservation {r}.",
        [call("get_reservation_details", reservation_id=r), call("cancel_reservation", reservation_id=r)],
        f"Reservation {r} is cancelled, and every payment is refunded to the method it came from.",
    )


def refuse_cancel(rng: Random, t: Tables) -> Scenario:
    user, reservation = _pick(rng, t, lambda r, u: _changeable(r) and not may_cancel(r, _flights(t, r)))
    r = reservation["reservation_id"]
    return _scenario(
        "refusal",
        user,
        f"You want to cancel reservation {r} because your plans changed. If the "
        f"agent says it cannot be cancelled, accept that.",
        f"Please cancel my reservation {r}, my plans changed.",
        [call("get_reservation_details", reservation_id=r)],
        f"I'm sorry, but I cannot cancel reservation {r}: it was booked more than 24 hours ago, it has no "
        f"travel insurance, it is not in business class and the airline cancelled none of its flights.",
        [REFUSAL],
    )


def change_flight(rng: Random, t: Tables) -> Scenario:
    def fits(r: dict, u: dict) -> bool:
        return _changeable(r) and r["cabin"] != "basic_economy" and r["flight_type"] == "one_way" and bool(_cards(u))

    user, reservation = _pick(rng, t, fits)
    leg = reservation["flights"][0]
    seats = len(reservation["passengers"])
    options = [
        f
        for n in t["routes"][f"{leg['origin']}-{leg['destination']}"]["flight_numbers"]
        for d in DATES
        if d > TODAY
        and d != leg["date"]
        and (f := t["flights"][f"{n}/{d}"])["status"] == "available"
        and f["seats"][reservation["cabin"]] >= seats
    ]
    if not options:
        raise NoFit
    new, card, r = rng.choice(options), _cards(user)[0], reservation["reservation_id"]
    return _scenario(
        "write",
        user,
        f"You want to move reservation {r} to flight {new['flight_number']} on "
        f"{new['date']}, same cabin, with any fare difference on {_card_text(card)}.",
        f"Hello, I need to move my reservation {r} to flight {new['flight_number']} on {new['date']}. "
        f"Any fare difference can go on {_card_text(card)}.",
        [
            call("get_reservation_details", reservation_id=r),
            call("search_direct_flight", origin=leg["origin"], destination=leg["destination"], date=new["date"]),
            call(
                "update_reservation_flights",
                reservation_id=r,
                cabin=reservation["cabin"],
                flights=[{"flight_number": new["flight_number"], "date": new["date"]}],
                payment_method_id=card["id"],
            ),
        ],
        f"Done: reservation {r} is now on flight {new['flight_number']} on {new['date']}.",
    )


def refuse_change_basic(rng: Random, t: Tables) -> Scenario:
    user, reservation = _pick(rng, t, lambda r, u: _changeable(r) and r["cabin"] == "basic_economy")
    r = reservation["reservation_id"]
    return _scenario(
        "refusal",
        user,
        f"You want to move reservation {r} to a day later. If the agent says it cannot be changed, accept that.",
        f"Hi, can I move my reservation {r} to a day later?",
        [call("get_reservation_details", reservation_id=r)],
        f"I'm sorry, but reservation {r} is basic economy, and basic economy flights cannot be changed.",
        [REFUSAL, "basic economy"],
    )


def add_bags(rng: Random, t: Tables) -> Scenario:
    user, reservation = _pick(rng, t, lambda r, u: _changeable(r) and bool(_cards(u)))
    extra, card, r = rng.randint(1, 2), _cards(user)[0], reservation["reservation_id"]
    total = reservation["total_baggages"] + extra
    nonfree = nonfree_bags(user["membership"], reservation["cabin"], len(reservation["passengers"]), total)
    bags = "one more checked bag" if extra == 1 else "two more checked bags"
    return _scenario(
        "write",
        user,
        f"You want {bags} on reservation {r}, paid with {_card_text(card)} if they cost anything.",
        f"Hi, I'd like to add {bags} to my reservation {r}. Please use {_card_text(card)} if there is a charge.",
        [
            call("get_reservation_details", reservation_id=r),
            call(
                "update_reservation_baggages",
                reservation_id=r,
                total_baggages=total,
                nonfree_baggages=nonfree,
                payment_method_id=card["id"],
            ),
        ],
        f"Reservation {r} now has {total} checked bags.",
    )


def book_one_way(rng: Random, t: Tables) -> Scenario:
    user = t["users"][rng.choice(sorted(t["users"]))]
    cards, cabin = _cards(user), rng.choice(sorted(CABIN_WORDS))
    route, date = rng.choice(sorted(t["routes"])), rng.choice([d for d in DATES if d > TODAY])
    flight = t["flights"][f"{rng.choice(t['routes'][route]['flight_numbers'])}/{date}"]
    if not cards or flight["status"] != "available" or flight["seats"][cabin] < 1:
        raise NoFit
    card = cards[0]
    origin, destination = route.split("-")
    bags, insurance = rng.randint(0, 2), rng.choice(["yes", "no"])
    nonfree = nonfree_bags(user["membership"], cabin, 1, bags)
    me = {k: user["name"][k] for k in ("first_name", "last_name")} | {"dob": user["dob"]}
    wants = (
        f"a one-way {CABIN_WORDS[cabin]} ticket from {AIRPORTS[origin]} ({origin}) to {AIRPORTS[destination]} "
        f"({destination}) on {date}, flight {flight['flight_number']}, just for yourself, with {bags} checked "
        f"bag{'s' if bags != 1 else ''} and {'with' if insurance == 'yes' else 'without'} travel insurance, paid "
        f"with {_card_text(card)}"
    )
    return _scenario(
        "write",
        user,
        f"You want to book {wants}.",
        f"Hi, I'd like to book {wants.replace('yourself', 'myself')}.",
        [
            call("search_direct_flight", origin=origin, destination=destination, date=date),
            call(
                "book_reservation",
                user_id=user["user_id"],
                origin=origin,
                destination=destination,
                flight_type="one_way",
                cabin=cabin,
                flights=[{"flight_number": flight["flight_number"], "date": date}],
                passengers=[me],
                payment_method_id=card["id"],
                total_baggages=bags,
                nonfree_baggages=nonfree,
                insurance=insurance,
            ),
        ],
        f"You are booked on flight {flight['flight_number']} on {date}.",
    )


def flight_status(rng: Random, t: Tables) -> Scenario:
    flight = t["flights"][rng.choice(sorted(t["flights"]))]
    if flight["status"] == "available":
        raise NoFit
    user = t["users"][rng.choice(sorted(t["users"]))]
    what = f"flight {flight['flight_number']} on {flight['date']}"
    return _scenario(
        "read",
        user,
        f"You want to know the status of {what}.",
        f"Hi, what is the status of {what}?",
        [call("get_flight_status", flight_number=flight["flight_number"], date=flight["date"])],
        f"The status of {what} is: {flight['status']}.",
        [flight["status"]],
    )


def reservation_cost(rng: Random, t: Tables) -> Scenario:
    user, reservation = _pick(rng, t, lambda r, u: True)
    r, amount = reservation["reservation_id"], f"{sum(p['amount'] for p in reservation['payment_history']):.2f}"
    return _scenario(
        "read",
        user,
        f"You want to know how much you paid for reservation {r}.",
        f"How much did I pay in total for my reservation {r}?",
        [call("get_reservation_details", reservation_id=r)],
        f"You paid ${amount} for reservation {r}.",
        [amount],
    )


def transfer_lost_bag(rng: Random, t: Tables) -> Scenario:
    user, reservation = _pick(rng, t, lambda r, u: r["flights"][0]["date"] < TODAY)
    leg, r = reservation["flights"][0], reservation["reservation_id"]
    return _scenario(
        "transfer",
        user,
        f"Your checked bag did not arrive after flight {leg['flight_number']} on "
        f"{leg['date']} (reservation {r}) and you want to file a lost-baggage claim with a person.",
        f"My checked bag never arrived after flight {leg['flight_number']} on {leg['date']} "
        f"(reservation {r}). I want to file a lost baggage claim.",
        [
            call("get_reservation_details", reservation_id=r),
            call(
                "transfer_to_human_agents",
                summary=f"Lost checked bag after flight {leg['flight_number']} "
                f"on {leg['date']}, reservation {r}; the customer wants to file a claim.",
            ),
        ],
    )


TEMPLATES = {
    f.__name__: f
    for f in (
        cancel_eligible,
        refuse_cancel,
        change_flight,
        refuse_change_basic,
        add_bags,
        book_one_way,
        flight_status,
        reservation_cost,
        transfer_lost_bag,
    )
}
SUITE = TaskSuite("airline", generate, TEMPLATES, Path(__file__).with_name(f"tasks_test_v{VERSION}.json"), VERSION)
