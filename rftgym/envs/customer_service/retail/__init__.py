"""The retail domain: an online store's orders, products and customers (``rftgym/Retail-v0``)."""

from rftgym.envs.customer_service.retail.env import RetailEnv

__all__ = ["RetailEnv"]
