"""Customers services: every write to accounts, the ledger, reservations, the master wallet,
subscriptions, notifications and portal logins. Each is one transaction with one audit event."""

from .accounts import CustomerError, customer_create, customer_update, customer_user_create
from .charges import ChargeError, ChargeLine, adjustment_post, charge_post, charge_post_batch
from .notifications import NotificationError, notification_record
from .reservations import (
    ReservationError,
    expire_due_reservations,
    reservation_commit,
    reservation_expire,
    reservation_release,
    reservation_reserve,
)
from .subscriptions import SubscriptionError, subscription_create, subscription_update
from .wallet import (
    WalletError,
    WalletTooLowError,
    master_wallet_create,
    master_wallet_fund,
    master_wallet_transfer,
)

__all__ = [
    "ChargeError", "ChargeLine", "CustomerError", "NotificationError", "ReservationError", "SubscriptionError",
    "WalletError", "WalletTooLowError", "adjustment_post", "charge_post", "charge_post_batch", "customer_create", "customer_update",
    "customer_user_create", "expire_due_reservations", "master_wallet_create", "master_wallet_fund",
    "master_wallet_transfer", "notification_record", "reservation_commit", "reservation_expire",
    "reservation_release", "reservation_reserve", "subscription_create", "subscription_update",
]
