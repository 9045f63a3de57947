"""Subscriptions and other recurring purchases: what renews when, at what price and at what cost to the
operator. A negative margin (cost above price) is allowed but flagged, in the audit event and on the page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record

from ..locks import lock_subscription
from ..models import PURCHASE_KINDS, Subscription, TransactionKind
from ._common import amount_or_error, locked_customer

MAX_PERIOD_MONTHS = 60


class SubscriptionError(ValueError):
    """A subscription's details that cannot be accepted; the message says why."""


def _clean(data: dict) -> dict:
    out = dict(data)
    if "product" in out:
        out["product"] = (out["product"] or "").strip()
        if not out["product"] or len(out["product"]) > 120:
            raise SubscriptionError("The product is required (at most 120 characters).")
    if "kind" in out and out["kind"] not in PURCHASE_KINDS:
        names = ", ".join(TransactionKind(k).label for k in TransactionKind if k in PURCHASE_KINDS)
        raise SubscriptionError(f"A subscription is one of: {names}.")
    if "quantity" in out and (not isinstance(out["quantity"], int) or out["quantity"] < 1):
        raise SubscriptionError("The quantity must be a whole number of at least 1.")
    if "period_months" in out and (not isinstance(out["period_months"], int)
                                   or not 1 <= out["period_months"] <= MAX_PERIOD_MONTHS):
        raise SubscriptionError(f"The renewal period must be 1 to {MAX_PERIOD_MONTHS} months.")
    if "renewal_date" in out and not isinstance(out["renewal_date"], dt.date):
        raise SubscriptionError("The renewal date is required.")
    if "renewal_price" in out:
        out["renewal_price"] = amount_or_error(out["renewal_price"], SubscriptionError, field="Renewal price",
                                               allow_zero=True)
    if "renewal_cost" in out:
        out["renewal_cost"] = amount_or_error(out["renewal_cost"], SubscriptionError, field="Renewal cost",
                                              allow_zero=True)
    if "is_active" in out:
        out["is_active"] = bool(out["is_active"])
    return out


def _margin_facts(sub: Subscription) -> dict:
    return {"margin": sub.margin, "negative_margin": sub.margin < 0}


@transaction.atomic
def subscription_create(
    *,
    customer_id: int,
    product: str,
    renewal_date: dt.date,
    renewal_price: Decimal,
    renewal_cost: Decimal,
    actor: Actor,
    kind: str = TransactionKind.SUBSCRIPTION,
    quantity: int = 1,
    period_months: int = 1,
    is_active: bool = True,
    at: dt.datetime | None = None,
) -> Subscription:
    data = _clean({"product": product, "kind": kind, "quantity": quantity, "period_months": period_months,
                   "renewal_date": renewal_date, "renewal_price": renewal_price, "renewal_cost": renewal_cost,
                   "is_active": is_active})
    customer = locked_customer(customer_id, SubscriptionError)
    sub = Subscription.objects.create(customer=customer, **data)
    audit_record(actor=actor, action="customers.subscription.create", app="customers", obj=sub,
                 customer_id=customer.pk, after={**data, **_margin_facts(sub)}, at=at)
    return sub


@transaction.atomic
def subscription_update(
    *,
    subscription_id: int,
    actor: Actor,
    at: dt.datetime | None = None,
    product: str | None = None,
    kind: str | None = None,
    quantity: int | None = None,
    period_months: int | None = None,
    renewal_date: dt.date | None = None,
    renewal_price: Decimal | None = None,
    renewal_cost: Decimal | None = None,
    is_active: bool | None = None,
) -> Subscription:
    """Change a subscription; None leaves a field as it is. One audit event with what changed, or nothing."""
    wanted = {k: v for k, v in {
        "product": product, "kind": kind, "quantity": quantity, "period_months": period_months,
        "renewal_date": renewal_date, "renewal_price": renewal_price, "renewal_cost": renewal_cost,
        "is_active": is_active}.items() if v is not None}
    data = _clean(wanted)
    try:
        sub = lock_subscription(subscription_id)
    except Subscription.DoesNotExist:
        raise SubscriptionError(f"There is no subscription #{subscription_id}.")
    changed = {k: v for k, v in data.items() if getattr(sub, k) != v}
    if not changed:
        return sub
    before = {**{k: getattr(sub, k) for k in changed}, **_margin_facts(sub)}
    Subscription.objects.filter(pk=sub.pk).update(**changed)
    sub.refresh_from_db()
    audit_record(actor=actor, action="customers.subscription.update", app="customers", obj=sub,
                 customer_id=sub.customer_id, before=before, after={**changed, **_margin_facts(sub)}, at=at)
    return sub
