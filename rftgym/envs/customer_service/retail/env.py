"""``rftgym/Retail-v0``: an online store's customer service: orders, returns, exchanges, addresses."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from rftgym.envs.customer_service.db import money
from rftgym.envs.customer_service.env import CustomerServiceEnv, read, write
from rftgym.envs.customer_service.lint import lint_env
from rftgym.envs.customer_service.retail.tasks import SUITE

HERE = Path(__file__).parent


class RetailEnv(CustomerServiceEnv):
    """Retail customer service: a simulated customer, an order database and a written policy.

    The agent authenticates the customer, looks up orders and products, and cancels or modifies
    pending orders, returns or exchanges delivered items, changes addresses, or transfers to a
    human, following ``policy.md``. See :class:`~rftgym.envs.customer_service.env.CustomerServiceEnv`
    for the episode and :mod:`~rftgym.envs.customer_service.rewards` for the reward components.
    """

    suite = SUITE
    policy_file = HERE / "policy.md"
    company = "an online store"
    auth_question = (
        "Hello! Before I can help, I need to verify your identity. Could you tell me your email "
        "address, or your first name, last name and zip code?"
    )
    lint = lint_env  # the task linter `rftgym envs lint` runs

    # ----- policy rules the tools do not enforce -----

    def policy_violation(self, name: str, arguments: dict[str, Any]) -> str | None:
        if "order_id" in arguments:
            order = self.db.get("orders", arguments["order_id"])
            owner = order["user_id"] if order else None
        else:
            order, owner = None, arguments.get("user_id")
        if self.user_id is not None and owner is not None and owner != self.user_id:
            return "acts on another customer's account"
        if name == "return_delivered_order_items" and order is not None:
            method = arguments["payment_method_id"]
            if method != order["payment_history"][0]["payment_method_id"] and not method.startswith("gift_card"):
                return "a refund must go to the original payment method or a gift card"
        return None

    # ----- reads -----

    @read(auth=False)
    def find_user_id_by_email(self, email: str) -> str:
        """Find a customer's user id by e-mail address. This authenticates the customer.

        Args:
            email: The customer's e-mail address, e.g. "ava.lopez12@example.com".
        """
        found = self.db.require("emails", email.strip().lower(), "no customer with e-mail")
        self.authenticate(found["user_id"])
        return found["user_id"]

    @read(auth=False)
    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        """Find a customer's user id by full name and zip code. This authenticates the customer.

        Args:
            first_name: The customer's first name, e.g. "Ava".
            last_name: The customer's last name, e.g. "Lopez".
            zip: The zip code of the customer's address, e.g. "97214".
        """
        key = f"{first_name.strip()}|{last_name.strip()}|{zip.strip()}".lower()
        found = self.db.require("name_zip", key, "no customer with name and zip")
        self.authenticate(found["user_id"])
        return found["user_id"]

    @read
    def get_user_details(self, user_id: str) -> dict:
        """Get a customer's profile: name, e-mail, address, payment methods and order ids.

        Args:
            user_id: The user id, e.g. "ava_lopez_1234".
        """
        return self.db.require("users", user_id, "user")

    @read
    def get_order_details(self, order_id: str) -> dict:
        """Get an order: status, items (with item ids, options and prices), address, payments.

        Args:
            order_id: The order id, starting with "#W", e.g. "#W1234567".
        """
        return self.db.require("orders", order_id, "order")

    @read(auth=False)
    def list_all_product_types(self) -> dict:
        """List the store's products: product name -> product id."""
        return {p["name"]: p["product_id"] for p in self.db.base["products"].values()}

    @read(auth=False)
    def get_product_details(self, product_id: str) -> dict:
        """Get a product and all its variants: item id -> options, price, availability.

        Args:
            product_id: The product id (not an item id), e.g. "6086499569".
        """
        return self.db.require("products", product_id, "product")

    # ----- writes -----

    @write
    def cancel_pending_order(self, order_id: str, reason: Literal["no longer needed", "ordered by mistake"]) -> dict:
        """Cancel a pending order; its payments are refunded to where they came from.

        Args:
            order_id: The order id, e.g. "#W1234567".
            reason: Why the customer cancels.
        """
        self._order_with_status(order_id, ("pending", "pending (item modified)"), "cancelled")
        order = self.db.edit("orders", order_id)
        order["status"], order["cancel_reason"] = "cancelled", reason
        for payment in [p for p in order["payment_history"] if p["transaction_type"] == "payment"]:
            order["payment_history"].append({**payment, "transaction_type": "refund"})
            self._credit(order["user_id"], payment["payment_method_id"], payment["amount"])
        return order

    @write
    def modify_pending_order_address(
        self, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> dict:
        """Change the shipping address of a pending order.

        Args:
            order_id: The order id, e.g. "#W1234567".
            address1: Street and number.
            address2: Apartment, suite... ("" for none).
            city: City.
            state: State, e.g. "OR".
            country: Country, e.g. "USA".
            zip: Zip code.
        """
        self._order_with_status(order_id, ("pending", "pending (item modified)"), "changed")
        order = self.db.edit("orders", order_id)
        order["address"] = _address_record(address1, address2, city, state, country, zip)
        return order

    @write
    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict:
        """Swap items of a pending order for other variants of the same products (once per order).

        Args:
            order_id: The order id, e.g. "#W1234567".
            item_ids: The item ids to replace.
            new_item_ids: The new item ids, in the same order (each a variant of the same product).
            payment_method_id: Pays or receives the price difference, e.g. "credit_card_1234567".
        """
        order = self._order_with_status(order_id, ("pending",), "modified (items can be changed only once)")
        pairs = self._swaps(order, item_ids, new_item_ids)
        difference = self._settle(order, pairs, payment_method_id)
        order = self.db.edit("orders", order_id)
        for item in order["items"]:
            if item["item_id"] in pairs:
                variant = pairs[item["item_id"]]
                item.update(item_id=variant["item_id"], options=dict(variant["options"]), price=variant["price"])
        order["status"] = "pending (item modified)"
        self._record_payment(order, difference, payment_method_id)
        return order

    @write
    def return_delivered_order_items(self, order_id: str, item_ids: list[str], payment_method_id: str) -> dict:
        """Request the return of delivered items; the refund goes to ``payment_method_id``.

        Args:
            order_id: The order id, e.g. "#W1234567".
            item_ids: The item ids to return.
            payment_method_id: Where the refund goes, e.g. "gift_card_1234567".
        """
        order = self._order_with_status(order_id, ("delivered",), "returned")
        self._items_of(order, item_ids)
        self._method(order["user_id"], payment_method_id)
        order = self.db.edit("orders", order_id)
        order["status"], order["return_items"] = "return requested", sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return order

    @write
    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict:
        """Request the exchange of delivered items for other variants of the same products.

        Args:
            order_id: The order id, e.g. "#W1234567".
            item_ids: The item ids to exchange.
            new_item_ids: The new item ids, in the same order (each a variant of the same product).
            payment_method_id: Pays or receives the price difference.
        """
        order = self._order_with_status(order_id, ("delivered",), "exchanged")
        pairs = self._swaps(order, item_ids, new_item_ids)
        difference = self._settle(order, pairs, payment_method_id)
        order = self.db.edit("orders", order_id)
        order["status"], order["exchange_items"] = "exchange requested", sorted(pairs)
        order["exchange_new_items"] = [pairs[i]["item_id"] for i in sorted(pairs)]
        order["exchange_payment_method_id"], order["exchange_price_difference"] = payment_method_id, difference
        return order

    @write
    def modify_user_address(
        self, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
    ) -> dict:
        """Change a customer's default address (existing orders keep theirs).

        Args:
            user_id: The user id.
            address1: Street and number.
            address2: Apartment, suite... ("" for none).
            city: City.
            state: State, e.g. "OR".
            country: Country, e.g. "USA".
            zip: Zip code.
        """
        self.db.require("users", user_id, "user")
        user = self.db.edit("users", user_id)
        user["address"] = _address_record(address1, address2, city, state, country, zip)
        return user

    # ----- helpers of the tools -----

    def _order_with_status(self, order_id: str, allowed: tuple[str, ...], verb: str) -> dict:
        order = self.db.require("orders", order_id, "order")
        if order["status"] not in allowed:
            raise ValueError(f"order {order_id} is {order['status']} and cannot be {verb}")
        return order

    def _items_of(self, order: dict, item_ids: list[str]) -> dict[str, dict]:
        items = {i["item_id"]: i for i in order["items"]}
        if not item_ids or len(set(item_ids)) != len(item_ids):
            raise ValueError("item_ids must list distinct item ids")
        for item_id in item_ids:
            if item_id not in items:
                raise ValueError(f"item {item_id} is not in order {order['order_id']}")
        return items

    def _swaps(self, order: dict, item_ids: list[str], new_item_ids: list[str]) -> dict[str, dict]:
        """Old item id -> the new variant, after checking each swap."""
        items = self._items_of(order, item_ids)
        if len(new_item_ids) != len(item_ids):
            raise ValueError("item_ids and new_item_ids must have the same length")
        pairs = {}
        for old, new in zip(item_ids, new_item_ids, strict=True):
            product = self.db.require("products", items[old]["product_id"], "product")
            variant = product["variants"].get(new)
            if variant is None:
                raise ValueError(f"item {new} is not a variant of {product['name']} (product {product['product_id']})")
            if new == old:
                raise ValueError(f"item {new} is the same as the item it would replace")
            if not variant["available"]:
                raise ValueError(f"item {new} is out of stock")
            pairs[old] = variant
        return pairs

    def _settle(self, order: dict, pairs: dict[str, dict], method_id: str) -> float:
        """The price difference of the swaps (positive: the customer pays), after checking the method."""
        prices = {i["item_id"]: i["price"] for i in order["items"]}
        difference = money(sum(v["price"] - prices[old] for old, v in pairs.items()))
        method = self._method(order["user_id"], method_id)
        if method["source"] == "gift_card" and difference > method["balance"]:
            raise ValueError(f"gift card {method_id} has {method['balance']:.2f}, not enough for {difference:.2f}")
        return difference

    def _record_payment(self, order: dict, difference: float, method_id: str) -> None:
        if difference:
            kind = "payment" if difference > 0 else "refund"
            order["payment_history"].append(
                {"transaction_type": kind, "amount": abs(difference), "payment_method_id": method_id}
            )
            self._credit(order["user_id"], method_id, -difference)

    def _method(self, user_id: str, method_id: str) -> dict:
        method = self.db.require("users", user_id, "user")["payment_methods"].get(method_id)
        if method is None:
            raise ValueError(f"payment method {method_id} is not one of the customer's")
        return method

    def _credit(self, user_id: str, method_id: str, amount: float) -> None:
        """Add ``amount`` (negative: take it) to a gift card's balance; other methods keep no balance."""
        methods = self.db.require("users", user_id, "user")["payment_methods"]
        if method_id.startswith("gift_card") and method_id in methods:
            method = self.db.edit("users", user_id)["payment_methods"][method_id]
            method["balance"] = money(method["balance"] + amount)


def _address_record(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict:
    return {"address1": address1, "address2": address2, "city": city, "state": state, "country": country, "zip": zip}
