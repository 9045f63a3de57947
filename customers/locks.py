"""Row locks, taken only through these helpers. Lock order across the project: customer -> master
wallet -> invoice -> payment, each by pk (see STYLE.md, Saleor's lock_objects note).

Every lock here is FOR NO KEY UPDATE (`no_key=True`): the services change totals and settings, never a
row's key, so an insert elsewhere that references a locked row (a ledger entry, a notification, an invoice:
its foreign-key check takes FOR KEY SHARE) goes ahead instead of queueing behind the lock. The one lock
taken to change a key (a customer's unique code) asks for FOR UPDATE: `lock_customer(..., key_change=True)`."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import connection, transaction

from .models import Customer, MasterWallet, Subscription


def lock_customer(customer_id: int, *, key_change: bool = False) -> Customer:
    """SELECT ... FOR NO KEY UPDATE the customer row (FOR UPDATE when the caller may change its code, a
    key); raises Customer.DoesNotExist."""
    assert transaction.get_connection().in_atomic_block, "lock inside a transaction"
    return Customer.objects.select_for_update(of=("self",), no_key=not key_change).get(pk=customer_id)


def lock_customers(customer_ids: Iterable[int]) -> dict[int, Customer]:
    ids = sorted(set(customer_ids))
    return {c.pk: c for c in Customer.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",), no_key=True)}


def lock_master_wallet(wallet_id: int) -> MasterWallet:
    return MasterWallet.objects.select_for_update(of=("self",), no_key=True).get(pk=wallet_id)


def debit_master_wallet(wallet_id: int, *, amount: Decimal, currency: str) -> tuple[Decimal, str] | None:
    """Take `amount` off the wallet if it is in `currency` and holds at least that much: ONE UPDATE, which
    locks the row (FOR NO KEY UPDATE: the balance is no key) until the COMMIT, so the caller makes it its last
    write; when it had to wait for another transaction's debit, PostgreSQL re-checks the condition on the
    newest balance, so the wallet never goes below zero. Returns the balance left and the wallet's name, or
    None when it touched no row (no such wallet, another currency, too little)."""
    assert transaction.get_connection().in_atomic_block, "lock inside a transaction"
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_masterwallet SET balance = balance - %s"
                       " WHERE id = %s AND currency = %s AND balance >= %s RETURNING balance, name",
                       [amount, wallet_id, currency, amount])
        return cursor.fetchone()


def lock_subscription(subscription_id: int) -> Subscription:
    return Subscription.objects.select_for_update(of=("self",), no_key=True).get(pk=subscription_id)
