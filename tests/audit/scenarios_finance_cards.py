"""Audit walk scenarios for the card services (finance/services/cards.py), merged into
scenarios_finance.py's SCENARIOS. Each sets up through the fake Stripe server and returns a callable that
calls the service once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from audit.actors import Actor
from finance.services.cards import (
    card_charge_off_session,
    card_payment_cancel,
    card_payment_fulfil,
    card_payments_expire,
    card_top_up_start,
    invoice_self_pay_with_credits,
    invoices_self_pay_with_credits,
    stripe_event_process,
)
from tests.audit.walk import needs
from tests.customers.factories import top_up
from tests.finance.factories import customer, purchase_invoice
from tests.stripe.helpers import CANCEL_URL, CUSTOMER, STRIPE, SUCCESS_URL, event_of, pay, save_card, start


@needs("fake_stripe")
def _start(fake_stripe):
    cust = customer()
    return lambda: card_top_up_start(customer_id=cust.pk, amount=Decimal("25"), actor=CUSTOMER,
                                     success_url=SUCCESS_URL, cancel_url=CANCEL_URL)


@needs("fake_stripe")
def _fulfil(fake_stripe):
    payment = start(customer())
    pay(fake_stripe, payment)
    return lambda: card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)


@needs("fake_stripe")
def _cancel(fake_stripe):
    payment = start(customer())
    return lambda: card_payment_cancel(card_payment_id=payment.pk, customer_id=payment.customer_id, actor=CUSTOMER)


@needs("fake_stripe")
def _off_session(fake_stripe):
    cust = save_card(fake_stripe, customer())
    return lambda: card_charge_off_session(customer_id=cust.pk, amount=Decimal("50"),
                                           idempotency_key="auto-top-up:walk", actor=STRIPE)


@needs("fake_stripe")
def _event(fake_stripe):
    payment = start(customer())
    pay(fake_stripe, payment)
    event = event_of(fake_stripe, "checkout.session.completed", payment.checkout_session_id)
    return lambda: stripe_event_process(event=event, actor=STRIPE)


@needs("fake_stripe")
def _expire(fake_stripe):
    payment = start(customer())
    later = payment.expires_at + dt.timedelta(minutes=1)
    return lambda: card_payments_expire(actor=Actor.system("card-payment-expiry"), now=later)


def _self_pay():
    cust = customer()
    top_up(cust, "100")
    invoice = purchase_invoice(cust, "60")
    return lambda: invoice_self_pay_with_credits(invoice_id=invoice.pk, customer_id=cust.pk, actor=CUSTOMER)


def _self_pay_several():
    cust = customer()
    top_up(cust, "100")
    first, second = purchase_invoice(cust, "60"), purchase_invoice(cust, "30")
    return lambda: invoices_self_pay_with_credits(invoice_ids=[first.pk, second.pk], customer_id=cust.pk,
                                                  actor=CUSTOMER)


SCENARIOS = {
    "finance.services.cards.card_top_up_start": _start,
    "finance.services.cards.card_payment_fulfil": _fulfil,
    "finance.services.cards.card_payment_cancel": _cancel,
    "finance.services.cards.card_charge_off_session": _off_session,
    "finance.services.cards.stripe_event_process": _event,
    "finance.services.cards.invoice_self_pay_with_credits": _self_pay,
    "finance.services.cards.invoices_self_pay_with_credits": _self_pay_several,
    "finance.services.cards.card_payments_expire": _expire,
}
