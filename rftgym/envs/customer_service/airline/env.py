"""``rftgym/Airline-v0``: an airline's customer service: bookings, flight changes, baggage, cancellations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from rftgym.envs.customer_service.airline.data import BAG_PRICE, INSURANCE_PRICE, NOW, TODAY, may_cancel, nonfree_bags
from rftgym.envs.customer_service.airline.tasks import SUITE
from rftgym.envs.customer_service.db import money
from rftgym.envs.customer_service.env import CustomerServiceEnv, read, write
from rftgym.envs.customer_service.lint import lint_env

HERE = Path(__file__).parent
Cabin = Literal["basic_economy", "economy", "business"]


class AirlineEnv(CustomerServiceEnv):
    """Airline customer service: a simulated customer, a flight and reservation database and a written policy.

    The agent authenticates the customer by user id, searches flights, books, changes flights,
    adds bags, cancels reservations or transfers to a human, following ``policy.md``. See
    :class:`~rftgym.envs.customer_service.env.CustomerServiceEnv` for the episode and
    :mod:`~rftgym.envs.customer_service.rewards` for the reward components.
    """

    suite = SUITE
    policy_file = HERE / "policy.md"
    company = "an airline"
    auth_question = "Hello! Could you please give me your user ID so I can pull up your profile?"
    lint = lint_env  # the task linter `rftgym envs lint` runs

    # ----- policy rules the tools do not enforce -----

    def policy_violation(self, name: str, arguments: dict[str, Any]) -> str | None:
        reservation = self.db.get("reservations", arguments.get("reservation_id", ""))
        owner = reservation["user_id"] if reservation else arguments.get("user_id")
        if self.user_id is not None and owner is not None and owner != self.user_id:
            return "acts on another customer's account"
        if (
            name == "cancel_reservation"
            and reservation
            and not may_cancel(reservation, self._flights(reservation["flights"]))
        ):
            return "the reservation is not eligible for cancellation"
        if name == "update_reservation_flights" and reservation and reservation["cabin"] == "basic_economy":
            return "basic economy flights cannot be changed"
        if name in ("book_reservation", "update_reservation_baggages"):
            user = self.db.get("users", owner or "")
            cabin = reservation["cabin"] if reservation else arguments.get("cabin")
            count = len(reservation["passengers"] if reservation else arguments.get("passengers", []))
            if (
                user
                and cabin
                and arguments["nonfree_baggages"]
                != nonfree_bags(user["membership"], cabin, count, arguments["total_baggages"])
            ):
                return "nonfree_baggages is not the number of bags beyond the free allowance"
        return None

    # ----- reads -----

    @read(auth=False)
    def get_user_details(self, user_id: str) -> dict:
        """Get a customer's profile (membership, payment methods, reservation ids). This authenticates the customer.

        Args:
            user_id: The user id, e.g. "ava_lopez_123".
        """
        user = self.db.require("users", user_id, "user")
        self.authenticate(user_id)
        return user

    @read
    def get_reservation_details(self, reservation_id: str) -> dict:
        """Get a reservation: flights, cabin, passengers, baggage, insurance, payments, status.

        Args:
            reservation_id: The six-character reservation id, e.g. "ZFA04Y".
        """
        return self.db.require("reservations", reservation_id, "reservation")

    @read(auth=False)
    def search_direct_flight(self, origin: str, destination: str, date: str) -> list:
        """Search the direct flights of a day between two airports, with status, seats left and prices per cabin.

        Args:
            origin: The origin airport code, e.g. "SEA".
            destination: The destination airport code, e.g. "JFK".
            date: The date, "YYYY-MM-DD".
        """
        route = self.db.get("routes", f"{origin}-{destination}")
        found = [self.db.get("flights", f"{n}/{date}") for n in (route or {}).get("flight_numbers", [])]
        return [f for f in found if f is not None]

    @read(auth=False)
    def get_flight_status(self, flight_number: str, date: str) -> str:
        """The status of a flight on a date: available, delayed, cancelled or landed.

        Args:
            flight_number: The flight number, e.g. "HAT123".
            date: The date, "YYYY-MM-DD".
        """
        return self.db.require("flights", f"{flight_number}/{date}", "flight")["status"]

    @read(auth=False)
    def list_all_airports(self) -> dict:
        """List the airports the airline flies to: code -> city."""
        return {code: a["city"] for code, a in self.db.base["airports"].items()}

    # ----- writes -----

    @write
    def book_reservation(
        self,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: Literal["one_way", "round_trip"],
        cabin: Cabin,
        flights: list[dict],
        passengers: list[dict],
        payment_method_id: str,
        total_baggages: int,
        nonfree_baggages: int,
        insurance: Literal["yes", "no"],
    ) -> dict:
        """Book a reservation and charge it to one payment method.

        Args:
            user_id: The customer's user id.
            origin: The trip's origin airport code.
            destination: The trip's destination airport code.
            flight_type: "one_way" or "round_trip".
            cabin: The cabin of every flight.
            flights: Each flight as {"flight_number": "HAT123", "date": "2026-05-20"}, in travel order.
            passengers: Each passenger as {"first_name": ..., "last_name": ..., "dob": "YYYY-MM-DD"}.
            payment_method_id: The payment method, e.g. "credit_card_1234567".
            total_baggages: Checked bags of the whole reservation.
            nonfree_baggages: Of those, the bags beyond the free allowance (50 dollars each).
            insurance: Travel insurance, 30 dollars per passenger: "yes" or "no".
        """
        user = self.db.require("users", user_id, "user")
        if not 1 <= len(passengers) <= 5 or any(set(p) != {"first_name", "last_name", "dob"} for p in passengers):
            raise ValueError("passengers must be 1 to 5 entries of {first_name, last_name, dob}")
        if not flights:
            raise ValueError("flights must list at least one flight")
        booked = self._take_seats(flights, cabin, len(passengers))
        end = destination if flight_type == "one_way" else origin
        if booked[0]["origin"] != origin or booked[-1]["destination"] != end:
            raise ValueError(f"the flights do not make a {flight_type} trip from {origin} to {destination}")
        amount = money(
            sum(f["price"] for f in booked) * len(passengers)
            + BAG_PRICE * nonfree_baggages
            + (INSURANCE_PRICE * len(passengers) if insurance == "yes" else 0)
        )
        self._charge(user_id, payment_method_id, amount)
        reservation_id = f"NEW{len(self.db.changes.get('reservations', {})) + 1:03d}"
        reservation = {
            "reservation_id": reservation_id,
            "user_id": user_id,
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": booked,
            "passengers": [dict(p) for p in passengers],
            "payment_history": [{"payment_id": payment_method_id, "amount": amount}],
            "created_at": NOW,
            "total_baggages": total_baggages,
            "nonfree_baggages": nonfree_baggages,
            "insurance": insurance,
            "status": "active",
        }
        self.db.insert("reservations", reservation_id, reservation)
        self.db.edit("users", user["user_id"])["reservations"].append(reservation_id)
        return reservation

    @write
    def cancel_reservation(self, reservation_id: str) -> dict:
        """Cancel a reservation none of whose flights has flown; every payment is refunded to its method.

        Args:
            reservation_id: The reservation id.
        """
        reservation = self._active(reservation_id)
        reservation = self.db.edit("reservations", reservation_id)
        for payment in list(reservation["payment_history"]):
            reservation["payment_history"].append({"payment_id": payment["payment_id"], "amount": -payment["amount"]})
            self._charge(reservation["user_id"], payment["payment_id"], -payment["amount"])
        reservation["status"] = "cancelled"
        return reservation

    @write
    def update_reservation_flights(
        self, reservation_id: str, cabin: Cabin, flights: list[dict], payment_method_id: str
    ) -> dict:
        """Change the flights (same legs, other flight numbers or dates) and the cabin of a reservation;
        the fare difference for all passengers is charged to, or refunded to, the payment method.

        Args:
            reservation_id: The reservation id.
            cabin: The cabin of every flight after the change.
            flights: Every flight of the reservation after the change, as {"flight_number", "date"}.
            payment_method_id: Pays or receives the fare difference.
        """
        reservation = self._active(reservation_id)
        kept = (
            {(f["flight_number"], f["date"]): f for f in reservation["flights"]}
            if cabin == reservation["cabin"]
            else {}
        )
        new = [f for f in flights if (f.get("flight_number"), f.get("date")) not in kept]
        booked = {
            (f["flight_number"], f["date"]): f for f in self._take_seats(new, cabin, len(reservation["passengers"]))
        }
        after = [kept.get((f["flight_number"], f["date"])) or booked[(f["flight_number"], f["date"])] for f in flights]
        if sorted((f["origin"], f["destination"]) for f in after) != sorted(
            (f["origin"], f["destination"]) for f in reservation["flights"]
        ):
            raise ValueError("the new flights must fly the same legs (origins and destinations) as the old ones")
        difference = money(
            (sum(f["price"] for f in after) - sum(f["price"] for f in reservation["flights"]))
            * len(reservation["passengers"])
        )
        self._charge(reservation["user_id"], payment_method_id, difference)
        reservation = self.db.edit("reservations", reservation_id)
        reservation["flights"], reservation["cabin"] = after, cabin
        if difference:
            reservation["payment_history"].append({"payment_id": payment_method_id, "amount": difference})
        return reservation

    @write
    def update_reservation_baggages(
        self, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_method_id: str
    ) -> dict:
        """Add checked bags to a reservation; the new paid bags cost 50 dollars each.

        Args:
            reservation_id: The reservation id.
            total_baggages: Checked bags of the whole reservation after the change (no fewer than before).
            nonfree_baggages: Of those, the bags beyond the free allowance.
            payment_method_id: Pays for the new paid bags.
        """
        reservation = self._active(reservation_id)
        if total_baggages < reservation["total_baggages"] or nonfree_baggages < reservation["nonfree_baggages"]:
            raise ValueError("bags can only be added, not removed")
        amount = money(BAG_PRICE * (nonfree_baggages - reservation["nonfree_baggages"]))
        self._charge(reservation["user_id"], payment_method_id, amount)
        reservation = self.db.edit("reservations", reservation_id)
        reservation["total_baggages"], reservation["nonfree_baggages"] = total_baggages, nonfree_baggages
        if amount:
            reservation["payment_history"].append({"payment_id": payment_method_id, "amount": amount})
        return reservation

    # ----- helpers of the tools -----

    def _flights(self, legs: list[dict]) -> list[dict]:
        return [
            self.db.get("flights", f"{leg['flight_number']}/{leg['date']}") or {"status": "unknown"} for leg in legs
        ]

    def _active(self, reservation_id: str) -> dict:
        """An active reservation none of whose flights has flown."""
        reservation = self.db.require("reservations", reservation_id, "reservation")
        if reservation["status"] != "active":
            raise ValueError(f"reservation {reservation_id} is {reservation['status']}")
        if any(f["date"] < TODAY for f in reservation["flights"]):
            raise ValueError(f"reservation {reservation_id} has flights that already flew")
        return reservation

    def _take_seats(self, legs: list[dict], cabin: str, passengers: int) -> list[dict]:
        """Book ``passengers`` seats on each leg: the legs as a reservation stores them (with prices)."""
        booked = []
        for leg in legs:
            key = f"{leg.get('flight_number')}/{leg.get('date')}"
            flight = self.db.require("flights", key, "flight")
            if flight["status"] != "available":
                raise ValueError(f"flight {key} is {flight['status']} and cannot be booked")
            if flight["seats"][cabin] < passengers:
                raise ValueError(f"flight {key} has {flight['seats'][cabin]} {cabin} seats left, not {passengers}")
            booked.append(
                {
                    "flight_number": flight["flight_number"],
                    "date": flight["date"],
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "price": flight["prices"][cabin],
                }
            )
        for leg in legs:
            self.db.edit("flights", f"{leg['flight_number']}/{leg['date']}")["seats"][cabin] -= passengers
        return booked

    def _charge(self, user_id: str, method_id: str, amount: float) -> None:
        """Charge ``amount`` (negative: refund) to a payment method; gift cards and certificates must cover it."""
        method = self.db.require("users", user_id, "user")["payment_methods"].get(method_id)
        if method is None:
            raise ValueError(f"payment method {method_id} is not one of the customer's")
        if method["source"] != "credit_card" and amount:
            if amount > method["amount"]:
                raise ValueError(f"{method_id} has {method['amount']:.2f}, not enough for {amount:.2f}")
            self.db.edit("users", user_id)["payment_methods"][method_id]["amount"] = money(method["amount"] - amount)
