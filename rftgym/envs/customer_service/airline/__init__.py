"""The airline domain: flights, reservations and customers (``rftgym/Airline-v0``)."""

from rftgym.envs.customer_service.airline.env import AirlineEnv

__all__ = ["AirlineEnv"]
