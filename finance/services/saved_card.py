"""The customer's saved card (kept on the Customer when they save it during a portal top-up): removing it.

Removing the card turns automatic top-ups by card off in the same transaction (a daily job must never
try a card that is gone), and detaches the card at Stripe after commit, so it cannot be charged again
even from Stripe's side. The Stripe customer id is kept: the next Checkout reuses it."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from customers.locks import lock_customer
from customers.models import Customer, card_label

from ..cards import gateway
from ..models import PaymentSettings, TopUpMethod
from ._common import FinanceError, label, when

logger = logging.getLogger(__name__)

APP = "finance"


class SavedCardError(FinanceError):
    """The saved card cannot be removed as asked; nothing was changed."""


@dataclass(frozen=True)
class CardRemoval:
    """What removing the card did: which card, and whether automatic top-ups by card were turned off."""

    card: str
    auto_top_up_turned_off: bool


def _card_shown(customer: Customer) -> str:
    card = card_label(customer.card_brand, customer.card_last4) or "Card"
    if customer.card_exp_month and customer.card_exp_year:
        card += f", expires {customer.card_exp_month:02d}/{customer.card_exp_year}"
    return card


@transaction.atomic
def saved_card_remove(*, customer_id: int, actor: Actor, at: dt.datetime | None = None) -> CardRemoval:
    """Forget the customer's saved card (payment method, brand, last 4, expiry) and, if automatic
    top-ups by card were on, turn them off (the amounts are kept for a card saved later). One audit event,
    under the customer's lock; the card is detached at Stripe after commit (a failure there is logged:
    we no longer hold the card's id, so it is never charged by us again)."""
    at = when(at)
    try:
        customer = lock_customer(customer_id)
    except Customer.DoesNotExist:
        raise SavedCardError(f"There is no customer #{customer_id}.")
    if not customer.stripe_payment_method_id:
        raise SavedCardError("There is no saved card on this account.")
    card = _card_shown(customer)
    method_id = customer.stripe_payment_method_id
    settings = PaymentSettings.objects.filter(customer_id=customer.pk).first()
    turn_off = settings is not None and settings.method == TopUpMethod.CARD and settings.auto_top_up_enabled
    before = {"card": card, "auto_top_up_enabled": settings.auto_top_up_enabled if settings else False}
    Customer.objects.filter(pk=customer.pk).update(stripe_payment_method_id="", card_brand="", card_last4="",
                                                   card_exp_month=None, card_exp_year=None)
    if turn_off:
        PaymentSettings.objects.filter(pk=settings.pk).update(auto_top_up_enabled=False, updated_at=at,
                                                              updated_by=label(actor))
    audit_record(actor=actor, action="finance.saved_card.remove", app=APP, obj=customer, customer_id=customer.pk,
                 before=before, after={"card": "", "auto_top_up_enabled": False if turn_off else before["auto_top_up_enabled"]},
                 at=at)
    transaction.on_commit(lambda: _detach(method_id), robust=True)
    return CardRemoval(card=card, auto_top_up_turned_off=turn_off)


def _detach(payment_method_id: str) -> None:
    try:
        gateway.payment_method_detach(payment_method_id)
    except gateway.GatewayError as error:
        logger.warning("Saved card %s not detached at Stripe: %s", payment_method_id, error.message)
