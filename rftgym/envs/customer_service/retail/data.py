"""The retail database generator: customers, addresses, payment methods, products with variants, orders.

``generate(seed)`` always makes the same database for the same seed. Tables:

* ``products``: product id -> ``{product_id, name, variants: {item_id: {item_id, options, price, available}}}``
* ``users``: user id -> ``{user_id, name: {first_name, last_name}, email, address, payment_methods, orders}``;
  a payment method is ``{id, source: credit_card|paypal|gift_card, brand?, last_four?, balance?}``
* ``orders``: order id (``#W1234567``) -> ``{order_id, user_id, address, items, status, fulfillments,
  payment_history}``; an item is ``{item_id, product_id, name, options, price}``; statuses are
  ``pending``, ``processed``, ``delivered`` and ``cancelled`` (tools add ``pending (item modified)``,
  ``return requested`` and ``exchange requested``)
* ``emails``: e-mail -> ``{user_id}`` and ``name_zip``: ``"first|last|zip"`` (lower case) -> ``{user_id}``: look-up indexes
* ``transfers``: empty; a transfer to a human adds a record
"""

from __future__ import annotations

import itertools
from random import Random

from rftgym.envs.customer_service.db import Record, money

FIRST_NAMES = (
    "Ava",
    "Liam",
    "Maya",
    "Noah",
    "Zoe",
    "Omar",
    "Lena",
    "Ravi",
    "Iris",
    "Hugo",
    "Nora",
    "Eli",
    "Sofia",
    "Kai",
    "Mila",
    "Theo",
    "Yara",
    "Jonas",
    "Priya",
    "Felix",
    "Amara",
    "Leo",
    "Ines",
    "Sam",
    "Chloe",
    "Mateo",
    "Hana",
    "Arjun",
    "Ruby",
    "Tomas",
)
LAST_NAMES = (
    "Lopez",
    "Okafor",
    "Schmidt",
    "Tanaka",
    "Rossi",
    "Novak",
    "Haddad",
    "Larsen",
    "Moreau",
    "Silva",
    "Kim",
    "Patel",
    "Walsh",
    "Ibrahim",
    "Costa",
    "Fischer",
    "Nguyen",
    "Brennan",
    "Mendes",
    "Sato",
    "Khan",
    "Dubois",
    "Ortiz",
    "Berg",
    "Adeyemi",
    "Quinn",
    "Romero",
    "Varga",
    "Ali",
    "Park",
)
STREETS = (
    "Maple Avenue",
    "Oak Street",
    "Harbor Road",
    "Cedar Lane",
    "Hillcrest Drive",
    "River Walk",
    "Sunset Boulevard",
    "Willow Court",
    "Station Road",
    "Elm Street",
    "Lakeview Terrace",
    "Mill Lane",
)
CITIES = (
    ("Portland", "OR", "972"),
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Columbus", "OH", "432"),
    ("Raleigh", "NC", "276"),
    ("Madison", "WI", "537"),
    ("Tucson", "AZ", "857"),
    ("Boise", "ID", "837"),
    ("Albany", "NY", "122"),
    ("Savannah", "GA", "314"),
    ("Spokane", "WA", "992"),
    ("Omaha", "NE", "681"),
)
# name -> (typical price, option -> values)
PRODUCTS = {
    "T-Shirt": (
        24,
        {"color": ["white", "black", "navy", "olive"], "size": ["S", "M", "L", "XL"], "material": ["cotton", "linen"]},
    ),
    "Water Bottle": (
        19,
        {
            "capacity": ["500ml", "750ml", "1000ml"],
            "material": ["steel", "glass", "plastic"],
            "color": ["blue", "green", "grey"],
        },
    ),
    "Desk Lamp": (
        45,
        {
            "color": ["black", "white", "brass"],
            "brightness": ["low", "medium", "high"],
            "power source": ["USB", "mains", "battery"],
        },
    ),
    "Backpack": (
        79,
        {
            "color": ["black", "grey", "red"],
            "size": ["small", "medium", "large"],
            "material": ["nylon", "canvas", "leather"],
        },
    ),
    "Headphones": (
        129,
        {
            "type": ["over-ear", "on-ear", "in-ear"],
            "connectivity": ["wired", "wireless"],
            "color": ["black", "white", "blue"],
        },
    ),
    "Running Shoes": (
        99,
        {"size": ["7", "8", "9", "10", "11"], "color": ["black", "white", "orange"], "sole": ["foam", "rubber"]},
    ),
    "Coffee Maker": (
        89,
        {
            "type": ["drip", "espresso", "pour-over"],
            "capacity": ["1 cup", "4 cups", "10 cups"],
            "color": ["black", "steel"],
        },
    ),
    "Yoga Mat": (
        35,
        {
            "thickness": ["4mm", "6mm", "8mm"],
            "material": ["rubber", "cork", "TPE"],
            "color": ["purple", "green", "black"],
        },
    ),
    "Wall Clock": (
        42,
        {"style": ["modern", "rustic", "retro"], "diameter": ["25cm", "35cm"], "color": ["white", "wood", "black"]},
    ),
    "Bluetooth Speaker": (
        69,
        {
            "color": ["black", "red", "teal"],
            "battery life": ["10 hours", "20 hours"],
            "water resistance": ["none", "splash", "waterproof"],
        },
    ),
    "Office Chair": (
        189,
        {
            "material": ["mesh", "fabric", "leather"],
            "color": ["black", "grey"],
            "armrest": ["fixed", "adjustable", "none"],
        },
    ),
    "Tea Kettle": (
        39,
        {
            "material": ["steel", "glass", "ceramic"],
            "capacity": ["1 liter", "1.5 liters"],
            "stovetop": ["gas", "induction", "electric"],
        },
    ),
    "Jigsaw Puzzle": (
        22,
        {"pieces": ["500", "1000", "2000"], "theme": ["animals", "landscape", "art"], "difficulty": ["easy", "hard"]},
    ),
    "Garden Hose": (
        33,
        {"length": ["15m", "25m", "50m"], "material": ["rubber", "PVC"], "color": ["green", "blue", "black"]},
    ),
    "Sunglasses": (
        59,
        {
            "frame": ["metal", "plastic"],
            "lens": ["polarized", "tinted", "mirrored"],
            "color": ["black", "tortoise", "gold"],
        },
    ),
    "Notebook": (12, {"size": ["A5", "A4"], "paper": ["lined", "dotted", "blank"], "cover": ["soft", "hard"]}),
}
STATUSES = ("pending", "pending", "processed", "delivered", "delivered", "cancelled")
NUM_USERS = 200


def _digits(rng: Random, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


def random_address(rng: Random) -> dict:
    """A made-up US address."""
    city, state, prefix = rng.choice(CITIES)
    return {
        "address1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
        "address2": rng.choice(["", "", f"Apt {rng.randint(1, 40)}", f"Suite {rng.randint(100, 900)}"]),
        "city": city,
        "state": state,
        "country": "USA",
        "zip": f"{prefix}{rng.randint(10, 99)}",
    }


def generate(seed: int) -> dict[str, dict[str, Record]]:
    """The retail database of ``seed`` (see the module docstring)."""
    rng = Random(f"rftgym.retail.db/{seed}")
    products = {}
    for name, (price, options) in PRODUCTS.items():
        product_id = _digits(rng, 10)
        combos = list(itertools.product(*options.values()))
        variants = {}
        for combo in rng.sample(combos, min(len(combos), rng.randint(6, 12))):
            item_id = _digits(rng, 10)
            variants[item_id] = {
                "item_id": item_id,
                "options": dict(zip(options, combo, strict=True)),
                "price": money(price * rng.uniform(0.8, 1.25)),
                "available": rng.random() < 0.8,
            }
        products[product_id] = {"product_id": product_id, "name": name, "variants": variants}

    users: dict[str, Record] = {}
    orders: dict[str, Record] = {}
    emails: dict[str, Record] = {}
    name_zip: dict[str, Record] = {}
    while len(users) < NUM_USERS:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{first}_{last}_{rng.randint(1000, 9999)}".lower()
        address = random_address(rng)
        key = f"{first}|{last}|{address['zip']}".lower()
        if user_id in users or key in name_zip:
            continue
        methods = {}
        for source in rng.sample(["credit_card", "credit_card", "paypal", "gift_card"], rng.randint(1, 3)):
            method_id = f"{source}_{_digits(rng, 7)}"
            method: Record = {"id": method_id, "source": source}
            if source == "credit_card":
                method.update(brand=rng.choice(["visa", "mastercard", "amex"]), last_four=_digits(rng, 4))
            if source == "gift_card":
                method["balance"] = money(rng.randint(0, 300))
            methods[method_id] = method
        email = f"{first}.{last}{rng.randint(1, 99)}@example.com".lower()
        user: Record = {
            "user_id": user_id,
            "name": {"first_name": first, "last_name": last},
            "email": email,
            "address": address,
            "payment_methods": methods,
            "orders": [],
        }
        for _ in range(rng.randint(1, 4)):
            order = _order(rng, user, products)
            while order["order_id"] in orders:
                order["order_id"] = f"#W{_digits(rng, 7)}"
            orders[order["order_id"]] = order
            user["orders"].append(order["order_id"])
        users[user_id], emails[email], name_zip[key] = user, {"user_id": user_id}, {"user_id": user_id}
    return {
        "products": products,
        "users": users,
        "orders": orders,
        "emails": emails,
        "name_zip": name_zip,
        "transfers": {},
    }


def _order(rng: Random, user: dict, products: dict) -> dict:
    items = []
    for product in rng.sample(sorted(products.values(), key=lambda p: p["product_id"]), rng.randint(1, 4)):
        variant = product["variants"][rng.choice(sorted(product["variants"]))]
        items.append(
            {
                "item_id": variant["item_id"],
                "product_id": product["product_id"],
                "name": product["name"],
                "options": dict(variant["options"]),
                "price": variant["price"],
            }
        )
    status = rng.choice(STATUSES)
    fulfillments = (
        [{"tracking_id": [_digits(rng, 12)], "item_ids": [i["item_id"] for i in items]}]
        if status in ("processed", "delivered")
        else []
    )
    method = rng.choice(sorted(user["payment_methods"]))
    payment = {
        "transaction_type": "payment",
        "amount": money(sum(i["price"] for i in items)),
        "payment_method_id": method,
    }
    return {
        "order_id": f"#W{_digits(rng, 7)}",
        "user_id": user["user_id"],
        "address": dict(user["address"]),
        "items": items,
        "status": status,
        "fulfillments": fulfillments,
        "payment_history": [payment],
    }
