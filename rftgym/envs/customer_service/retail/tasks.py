"""The retail task templates and the retail task suite (``SUITE``).

Each template draws a customer and what they want from a seeded RNG and the database, and writes
the request, the hidden instructions, the reference actions and the reference reply.

To write a new test split version: bump ``VERSION`` and run
``python -c "from rftgym.envs.customer_service.retail.tasks import *; SUITE.write_test_file(TEST_SIZE)"``
(it writes ``tasks_test_v<VERSION>.json``).
"""

from __future__ import annotations

from pathlib import Path
from random import Random

from rftgym.envs.customer_service.db import Tables
from rftgym.envs.customer_service.retail.data import generate, random_address
from rftgym.envs.customer_service.scenarios import REFUSAL, Kind, NoFit, Scenario, TaskSuite, call, pick

VERSION = 1
TEST_SIZE = 120
REASONS = {"no longer needed": "I don't need it anymore", "ordered by mistake": "I ordered it by mistake"}


# ----- helpers -----


def _pick(rng: Random, t: Tables, fits) -> tuple[dict, dict]:
    """A random order for which ``fits(order, user)`` holds, with its customer."""
    order = pick(rng, t["orders"], lambda o: fits(o, t["users"][o["user_id"]]))
    return t["users"][order["user_id"]], order


def _identify(rng: Random, user: dict) -> tuple[str, dict, str]:
    """How the customer identifies: what they say, the authenticating action, the instructions' line."""
    name = user["name"]
    if rng.random() < 0.5:
        return (
            f"My email is {user['email']}.",
            call("find_user_id_by_email", email=user["email"]),
            f"You are {name['first_name']} {name['last_name']}; your email is {user['email']}.",
        )
    zip_code = user["address"]["zip"]
    return (
        f"I'm {name['first_name']} {name['last_name']}, zip code {zip_code}.",
        call("find_user_id_by_name_zip", first_name=name["first_name"], last_name=name["last_name"], zip=zip_code),
        f"You are {name['first_name']} {name['last_name']}; your zip code is {zip_code}. You do not remember your email.",
    )


def _options(options: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


def _address(address: dict) -> str:
    street = f"{address['address1']}, {address['address2']}" if address["address2"] else address["address1"]
    return f"{street}, {address['city']}, {address['state']} {address['zip']}, {address['country']}"


def _method_text(method: dict) -> str:
    if method["source"] == "credit_card":
        return f"my {method['brand']} card ending in {method['last_four']}"
    return "my PayPal account" if method["source"] == "paypal" else "my gift card"


def _other_variant(rng: Random, t: Tables, item: dict) -> dict | None:
    """Another available variant of the item's product, or None."""
    variants = t["products"][item["product_id"]]["variants"]
    others = [v for k, v in sorted(variants.items()) if k != item["item_id"] and v["available"]]
    return rng.choice(others) if others else None


def _original(order: dict) -> str:
    return order["payment_history"][0]["payment_method_id"]


def _scenario(
    kind: Kind,
    who: str,
    goal: str,
    identity: str,
    request: str,
    actions: list[dict],
    reply: str = "",
    outputs: list | None = None,
) -> Scenario:
    instructions = f"{who} {goal} If the agent asks you to identify yourself, say: {identity}"
    return Scenario(kind, request, instructions, identity, actions, reply, outputs or [])


# ----- templates -----


def cancel_pending(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: o["status"] == "pending")
    identity, auth, who = _identify(rng, user)
    reason = rng.choice(sorted(REASONS))
    o = order["order_id"]
    return _scenario(
        "write",
        who,
        f"You want to cancel order {o}: {REASONS[reason]}.",
        identity,
        f"Hi, I'd like to cancel my order {o}. {REASONS[reason]}.",
        [auth, call("get_order_details", order_id=o), call("cancel_pending_order", order_id=o, reason=reason)],
        f"Your order {o} is cancelled, and its payment is refunded.",
    )


def modify_order_address(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: o["status"] == "pending")
    identity, auth, who = _identify(rng, user)
    new, o = random_address(rng), order["order_id"]
    return _scenario(
        "write",
        who,
        f"You want order {o} shipped to {_address(new)} instead.",
        identity,
        f"Hello, can you ship my order {o} to a different address? It should go to {_address(new)}.",
        [auth, call("get_order_details", order_id=o), call("modify_pending_order_address", order_id=o, **new)],
        f"Done: order {o} will now be shipped to {_address(new)}.",
    )


def modify_user_address(rng: Random, t: Tables) -> Scenario:
    user = t["users"][rng.choice(sorted(t["users"]))]
    identity, auth, who = _identify(rng, user)
    new = random_address(rng)
    return _scenario(
        "write",
        who,
        f"You moved and want your default address changed to {_address(new)}.",
        identity,
        f"Hi, I moved. Please update my default address to {_address(new)}.",
        [auth, call("modify_user_address", user_id=user["user_id"], **new)],
        f"Your default address is now {_address(new)}.",
    )


def _swap(rng: Random, t: Tables, status: str, tool: str, verb: str) -> Scenario:
    """Modify (pending) or exchange (delivered) one item for another variant, paid with the original method."""
    user, order = _pick(rng, t, lambda o, u: o["status"] == status)
    item = rng.choice(order["items"])
    variant = _other_variant(rng, t, item)
    method = user["payment_methods"][_original(order)]
    if variant is None or (method["source"] == "gift_card" and variant["price"] - item["price"] > method["balance"]):
        raise NoFit
    identity, auth, who = _identify(rng, user)
    o, wanted = order["order_id"], _options(variant["options"])
    goal = (
        f"In order {o} you want to {verb} the {item['name']} ({_options(item['options'])}) for the one with "
        f"{wanted}. Any price difference goes on {_method_text(method)}, the one the order was paid with."
    )
    return _scenario(
        "write",
        who,
        goal,
        identity,
        f"Hi! I'd like to {verb} the {item['name']} in my order {o} for the one with {wanted}. "
        f"Any price difference can go on {_method_text(method)}.",
        [
            auth,
            call("get_order_details", order_id=o),
            call("get_product_details", product_id=item["product_id"]),
            call(
                tool,
                order_id=o,
                item_ids=[item["item_id"]],
                new_item_ids=[variant["item_id"]],
                payment_method_id=method["id"],
            ),
        ],
        f"All set: the {item['name']} in order {o} will be the one with {wanted}.",
    )


def modify_pending_items(rng: Random, t: Tables) -> Scenario:
    return _swap(rng, t, "pending", "modify_pending_order_items", "change")


def exchange_delivered(rng: Random, t: Tables) -> Scenario:
    return _swap(rng, t, "delivered", "exchange_delivered_order_items", "exchange")


def return_delivered(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: o["status"] == "delivered")
    identity, auth, who = _identify(rng, user)
    items = rng.sample(order["items"], rng.randint(1, min(2, len(order["items"]))))
    gift_cards = sorted(m for m in user["payment_methods"] if m.startswith("gift_card"))
    o, names = order["order_id"], " and the ".join(i["name"] for i in items)
    actions = [auth, call("get_order_details", order_id=o)]
    if gift_cards and rng.random() < 0.5:
        method, where = gift_cards[0], "to my gift card"
        actions.append(call("get_user_details", user_id=user["user_id"]))
    else:
        method, where = _original(order), "to the original payment method"
    actions.append(
        call(
            "return_delivered_order_items", order_id=o, item_ids=[i["item_id"] for i in items], payment_method_id=method
        )
    )
    return _scenario(
        "write",
        who,
        f"You want to return the {names} from order {o}, refunded {where}.",
        identity,
        f"Hello, I want to return the {names} from order {o}. Please refund {where}.",
        actions,
        f"Your return of the {names} from order {o} is requested; the refund goes {where}.",
    )


def cancel_and_move(rng: Random, t: Tables) -> Scenario:
    user, _ = _pick(rng, t, lambda o, u: sum(t["orders"][x]["status"] == "pending" for x in u["orders"]) >= 2)
    first, second = [x for x in user["orders"] if t["orders"][x]["status"] == "pending"][:2]
    identity, auth, who = _identify(rng, user)
    new = random_address(rng)
    return _scenario(
        "write",
        who,
        f"You want to cancel order {first} (ordered by mistake) and have order {second} shipped to {_address(new)}.",
        identity,
        f"Hi, two things: please cancel order {first}, I ordered it by mistake. And order {second} "
        f"should go to {_address(new)} instead.",
        [
            auth,
            call("get_order_details", order_id=first),
            call("cancel_pending_order", order_id=first, reason="ordered by mistake"),
            call("get_order_details", order_id=second),
            call("modify_pending_order_address", order_id=second, **new),
        ],
        f"Order {first} is cancelled and order {second} will be shipped to {_address(new)}.",
    )


def order_total(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: o["status"] != "cancelled")
    identity, auth, who = _identify(rng, user)
    o, amount = order["order_id"], f"{order['payment_history'][0]['amount']:.2f}"
    return _scenario(
        "read",
        who,
        f"You want to know how much you paid for order {o}.",
        identity,
        f"Hi, how much did I pay in total for my order {o}?",
        [auth, call("get_order_details", order_id=o)],
        f"You paid ${amount} for order {o}.",
        [amount],
    )


def order_status(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: True)
    identity, auth, who = _identify(rng, user)
    o, status = order["order_id"], order["status"]
    return _scenario(
        "read",
        who,
        f"You want to know the status of order {o}.",
        identity,
        f"Hey, what's the status of my order {o}?",
        [auth, call("get_order_details", order_id=o)],
        f"Your order {o} is {status}.",
        [status],
    )


def product_price(rng: Random, t: Tables) -> Scenario:
    user = t["users"][rng.choice(sorted(t["users"]))]
    product = t["products"][rng.choice(sorted(t["products"]))]
    variant = product["variants"][rng.choice(sorted(product["variants"]))]
    identity, auth, who = _identify(rng, user)
    wanted, price = _options(variant["options"]), f"{variant['price']:.2f}"
    return _scenario(
        "read",
        who,
        f"You want to know the price of the {product['name']} with {wanted}.",
        identity,
        f"Hi, how much is the {product['name']} with {wanted}?",
        [auth, call("list_all_product_types"), call("get_product_details", product_id=product["product_id"])],
        f"The {product['name']} with {wanted} costs ${price}.",
        [price],
    )


def refuse_cancel(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: o["status"] in ("processed", "delivered"))
    identity, auth, who = _identify(rng, user)
    o, status = order["order_id"], order["status"]
    return _scenario(
        "refusal",
        who,
        f"You want to cancel order {o} because you no longer need it. If the agent "
        f"says it cannot be cancelled, accept that.",
        identity,
        f"I want to cancel my order {o}, I don't need it anymore.",
        [auth, call("get_order_details", order_id=o)],
        f"I'm sorry, but order {o} is already {status}, so I cannot cancel it.",
        [REFUSAL, status],
    )


def refuse_refund_card(rng: Random, t: Tables) -> Scenario:
    def fits(order: dict, user: dict) -> bool:
        return order["status"] == "delivered" and any(
            m != _original(order) and not m.startswith("gift_card") for m in user["payment_methods"]
        )

    user, order = _pick(rng, t, fits)
    identity, auth, who = _identify(rng, user)
    other = next(
        m for k, m in sorted(user["payment_methods"].items()) if k != _original(order) and m["source"] != "gift_card"
    )
    item, o = rng.choice(order["items"]), order["order_id"]
    return _scenario(
        "refusal",
        who,
        f"You want to return the {item['name']} from order {o}, but only if the refund "
        f"goes to {_method_text(other)}. Otherwise you keep it.",
        identity,
        f"I'd like to return the {item['name']} from order {o}, with the refund going to {_method_text(other)}.",
        [auth, call("get_order_details", order_id=o), call("get_user_details", user_id=user["user_id"])],
        "I'm sorry, but I cannot refund to that payment method: refunds go only to the original payment "
        "method or a gift card.",
        [REFUSAL, "original payment method"],
    )


def transfer_damaged(rng: Random, t: Tables) -> Scenario:
    user, order = _pick(rng, t, lambda o, u: o["status"] == "delivered")
    identity, auth, who = _identify(rng, user)
    item, o = rng.choice(order["items"]), order["order_id"]
    return _scenario(
        "transfer",
        who,
        f"The {item['name']} of order {o} arrived broken and you want to file a "
        f"complaint about the courier with a human.",
        identity,
        f"My {item['name']} from order {o} arrived smashed. I want to file a complaint about the courier "
        f"with a real person.",
        [
            auth,
            call("get_order_details", order_id=o),
            call(
                "transfer_to_human_agents",
                summary=f"Customer wants to complain about the courier: the "
                f"{item['name']} of order {o} arrived broken.",
            ),
        ],
    )


TEMPLATES = {
    f.__name__: f
    for f in (
        cancel_pending,
        modify_order_address,
        modify_user_address,
        modify_pending_items,
        exchange_delivered,
        return_delivered,
        cancel_and_move,
        order_total,
        order_status,
        product_price,
        refuse_cancel,
        refuse_refund_card,
        transfer_damaged,
    )
}
SUITE = TaskSuite("retail", generate, TEMPLATES, Path(__file__).with_name(f"tasks_test_v{VERSION}.json"), VERSION)
