"""Row locks, taken only through these helpers. Lock order across the project: customer -> master
wallet -> invoice -> payment, each by pk (see STYLE.md, Saleor's lock_objects note)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from .models import Customer, MasterWallet, Subscription


def lock_customer(customer_id: int) -> Customer:
    """SELECT ... FOR UPDATE the customer row; raises Customer.DoesNotExist."""
    assert transaction.get_connection().in_atomic_block, "lock inside a transaction"
    return Customer.objects.select_for_update(of=("self",)).get(pk=customer_id)


def lock_customers(customer_ids: Iterable[int]) -> dict[int, Customer]:
    ids = sorted(set(customer_ids))
    return {c.pk: c for c in Customer.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",))}


def lock_master_wallet(wallet_id: int) -> MasterWallet:
    return MasterWallet.objects.select_for_update(of=("self",)).get(pk=wallet_id)


def lock_subscription(subscription_id: int) -> Subscription:
    return Subscription.objects.select_for_update(of=("self",)).get(pk=subscription_id)
