"""Audit walk scenarios for the portal's Cards and Payments pages' services (turning card auto top-up off
and on, removing the saved card, delivering a card receipt), merged into scenarios_finance.py's SCENARIOS."""

from __future__ import annotations

from customers.models import Notification, NotificationKind
from finance.services.auto_top_up import payment_settings_switch_from_portal
from finance.services.cards import card_payment_fulfil
from finance.services.receipts import card_receipt_email_deliver
from finance.services.saved_card import saved_card_remove
from tests.audit.walk import needs
from tests.finance.factories import customer
from tests.stripe.helpers import CUSTOMER, pay, save_card, start


@needs("fake_stripe")
def _switch(fake_stripe):
    cust = save_card(fake_stripe, customer())  # card saved, auto top-up by card on
    return lambda: payment_settings_switch_from_portal(customer_id=cust.pk, enabled=False, actor=CUSTOMER)


@needs("fake_stripe")
def _remove(fake_stripe):
    cust = save_card(fake_stripe, customer())
    return lambda: saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)


@needs("fake_stripe")
def _receipt(fake_stripe):
    payment = start(customer(billing_email="billing@walk.example"))
    pay(fake_stripe, payment)
    # Queued by the fulfilment; its delivery after commit never runs in the walk's rolled-back transaction.
    card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
    note = Notification.objects.get(kind=NotificationKind.PAYMENT_RECEIPT, source_id=payment.pk, status="queued")
    return lambda: card_receipt_email_deliver(notification_id=note.pk, actor=CUSTOMER)


SCENARIOS = {
    "finance.services.auto_top_up.payment_settings_switch_from_portal": _switch,
    "finance.services.saved_card.saved_card_remove": _remove,
    "finance.services.receipts.card_receipt_email_deliver": _receipt,
}
