"""The airline database generator: airports, flights with seats and prices per cabin, customers with
membership levels and payment methods, reservations with passengers, baggage and insurance.

``generate(seed)`` always makes the same database for the same seed. "Now" is :data:`NOW`. The
policy's rules that tasks and tools share are here too: :func:`may_cancel`, :func:`nonfree_bags`.
Tables:

* ``airports``: code -> ``{code, city}``; ``routes``: ``"SEA-JFK"`` -> ``{flight_numbers}`` (an index)
* ``flights``: ``"HAT123/2026-05-20"`` -> ``{flight_number, date, origin, destination, departure,
  arrival, status: available|delayed|cancelled|landed, prices: {cabin: dollars}, seats: {cabin: count}}``
* ``users``: user id -> ``{user_id, name, email, dob, membership: regular|silver|gold,
  payment_methods: {id: {id, source: credit_card|gift_card|certificate, brand?, last_four?, amount?}},
  reservations}``
* ``reservations``: id -> ``{reservation_id, user_id, origin, destination, flight_type, cabin,
  flights: [{flight_number, date, origin, destination, price}], passengers: [{first_name, last_name, dob}],
  payment_history: [{payment_id, amount}], created_at, total_baggages, nonfree_baggages, insurance, status}``
* ``transfers``: empty; a transfer to a human adds a record
"""

from __future__ import annotations

from datetime import datetime, timedelta
from random import Random

from rftgym.envs.customer_service.db import Record, money
from rftgym.envs.customer_service.retail.data import FIRST_NAMES, LAST_NAMES

NOW = "2026-05-15 15:00:00"
TODAY = NOW[:10]
DATES = tuple(f"2026-05-{day:02d}" for day in range(10, 31))
AIRPORTS = {
    "SEA": "Seattle",
    "SFO": "San Francisco",
    "LAX": "Los Angeles",
    "DEN": "Denver",
    "ORD": "Chicago",
    "JFK": "New York",
    "BOS": "Boston",
    "ATL": "Atlanta",
    "MIA": "Miami",
    "DFW": "Dallas",
    "PHX": "Phoenix",
    "MSP": "Minneapolis",
}
CABINS = ("basic_economy", "economy", "business")
#: Free checked bags per passenger, by membership and cabin.
FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}
BAG_PRICE, INSURANCE_PRICE = 50, 30
NUM_USERS, NUM_ROUTES = 150, 40


def may_cancel(reservation: dict, flights: list[dict]) -> bool:
    """The cancellation rule of the policy: booked in the last 24 hours, travel insurance, business
    cabin, or a flight of it cancelled by the airline (``flights``: its flight records)."""
    booked = datetime.fromisoformat(reservation["created_at"])
    return (
        datetime.fromisoformat(NOW) - booked <= timedelta(hours=24)
        or reservation["insurance"] == "yes"
        or reservation["cabin"] == "business"
        or any(f["status"] == "cancelled" for f in flights)
    )


def nonfree_bags(membership: str, cabin: str, passengers: int, total: int) -> int:
    """The bags of a reservation that are paid for: those beyond the free allowance."""
    return max(0, total - FREE_BAGS[membership][cabin] * passengers)


def _code(rng: Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(n))


def generate(seed: int) -> dict[str, dict[str, Record]]:
    """The airline database of ``seed`` (see the module docstring)."""
    rng = Random(f"rftgym.airline.db/{seed}")
    codes = sorted(AIRPORTS)
    routes: dict[str, Record] = {}
    flights: dict[str, Record] = {}
    numbers: set[str] = set()
    while len(routes) < NUM_ROUTES:
        origin, destination = rng.sample(codes, 2)
        if f"{origin}-{destination}" in routes:
            continue
        route = routes[f"{origin}-{destination}"] = {"flight_numbers": []}
        base = rng.randint(90, 400)
        for _ in range(rng.randint(1, 2)):
            number = f"HAT{rng.randint(100, 999)}"
            while number in numbers:
                number = f"HAT{rng.randint(100, 999)}"
            numbers.add(number)
            route["flight_numbers"].append(number)
            hour, length = rng.randint(6, 20), rng.randint(1, 6)
            for date in DATES:
                status = "landed" if date < TODAY else rng.choice(["available"] * 18 + ["delayed", "cancelled"])
                factor = rng.uniform(0.85, 1.2)
                flights[f"{number}/{date}"] = {
                    "flight_number": number,
                    "date": date,
                    "origin": origin,
                    "destination": destination,
                    "departure": f"{hour:02d}:{rng.choice(['00', '15', '30', '45'])}",
                    "arrival": f"{(hour + length) % 24:02d}:{rng.choice(['05', '20', '35', '50'])}",
                    "status": status,
                    "prices": {
                        "basic_economy": money(base * factor * 0.6),
                        "economy": money(base * factor),
                        "business": money(base * factor * 2.7),
                    },
                    "seats": {
                        "basic_economy": rng.randint(0, 12),
                        "economy": rng.randint(0, 20),
                        "business": rng.randint(0, 8),
                    },
                }

    users: dict[str, Record] = {}
    reservations: dict[str, Record] = {}
    while len(users) < NUM_USERS:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{first}_{last}_{rng.randint(100, 999)}".lower()
        if user_id in users:
            continue
        methods = {}
        for source in rng.sample(["credit_card", "credit_card", "gift_card", "certificate"], rng.randint(1, 3)):
            method: Record = {"id": f"{source}_{rng.randint(1000000, 9999999)}", "source": source}
            if source == "credit_card":
                method.update(brand=rng.choice(["visa", "mastercard"]), last_four=f"{rng.randint(0, 9999):04d}")
            else:
                method["amount"] = money(rng.choice([50, 100, 150, 250, 500]))
            methods[method["id"]] = method
        user: Record = {
            "user_id": user_id,
            "name": {"first_name": first, "last_name": last},
            "email": f"{first}.{last}{rng.randint(1, 99)}@example.com".lower(),
            "dob": f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "membership": rng.choice(["regular", "regular", "silver", "gold"]),
            "payment_methods": methods,
            "reservations": [],
        }
        for _ in range(rng.randint(1, 3)):
            reservation = _reservation(rng, user, routes, flights)
            while reservation["reservation_id"] in reservations:
                reservation["reservation_id"] = _code(rng, 6)
            reservations[reservation["reservation_id"]] = reservation
            user["reservations"].append(reservation["reservation_id"])
        users[user_id] = user
    airports = {code: {"code": code, "city": city} for code, city in AIRPORTS.items()}
    return {
        "airports": airports,
        "routes": routes,
        "flights": flights,
        "users": users,
        "reservations": reservations,
        "transfers": {},
    }


def _reservation(rng: Random, user: dict, routes: dict, flights: dict) -> dict:
    route = rng.choice(sorted(routes))
    origin, destination = route.split("-")
    round_trip = f"{destination}-{origin}" in routes and rng.random() < 0.4
    cabin = rng.choice(CABINS)
    day = rng.randrange(len(DATES) - 4)
    legs = [(route, DATES[day])] + ([(f"{destination}-{origin}", DATES[day + rng.randint(1, 3)])] if round_trip else [])
    passengers = [
        {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"], "dob": user["dob"]}
    ]
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        passengers.append(
            {
                "first_name": rng.choice(FIRST_NAMES),
                "last_name": user["name"]["last_name"],
                "dob": f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            }
        )
    booked = []
    for leg, date in legs:
        flight = flights[f"{rng.choice(routes[leg]['flight_numbers'])}/{date}"]
        booked.append(
            {
                "flight_number": flight["flight_number"],
                "date": date,
                "origin": flight["origin"],
                "destination": flight["destination"],
                "price": flight["prices"][cabin],
            }
        )
    insurance = rng.choice(["yes", "no", "no"])
    total_bags = rng.randint(0, len(passengers) + 1)
    nonfree = nonfree_bags(user["membership"], cabin, len(passengers), total_bags)
    amount = money(
        sum(f["price"] for f in booked) * len(passengers)
        + BAG_PRICE * nonfree
        + (INSURANCE_PRICE * len(passengers) if insurance == "yes" else 0)
    )
    card = next(
        (m for m in sorted(user["payment_methods"]) if m.startswith("credit_card")), sorted(user["payment_methods"])[0]
    )
    created = f"2026-05-{rng.randint(1, 15):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    return {
        "reservation_id": _code(rng, 6),
        "user_id": user["user_id"],
        "origin": origin,
        "destination": destination,
        "flight_type": "round_trip" if round_trip else "one_way",
        "cabin": cabin,
        "flights": booked,
        "passengers": passengers,
        "payment_history": [{"payment_id": card, "amount": amount}],
        "created_at": min(created, NOW),
        "total_baggages": total_bags,
        "nonfree_baggages": nonfree,
        "insurance": insurance,
        "status": "active",
    }
