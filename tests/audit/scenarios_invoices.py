"""Audit walk scenarios for the invoices services (see tests/audit/test_every_service_audits.py): each sets
up with factories and services, then returns a zero-argument callable that calls its service once.

The scenarios run in a rolled-back test transaction, so the emails that invoice_send and the runs queue
after commit are never delivered here: delivery is its own service (invoice_email_deliver) with its own
scenario and event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from customers.models import InvoiceSetup, Notification
from finance.services.billing import PAYMENT_CASH
from invoices.services import (
    PurchaseLine,
    bill_customer_period,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_email_deliver,
    invoice_mark_sent,
    invoice_send,
    invoice_void,
    monthly_billing_run,
    renew_due_subscriptions,
    subscription_renew,
)
from tests.customers.factories import CustomerFactory, SubscriptionFactory
from tests.invoices.factories import SYSTEM, top_up_invoice, usage

FEB_USAGE = dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC)
MARCH_1 = dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC)
APR1 = dt.date(2026, 4, 1)


def _create_top_up():
    customer = CustomerFactory()
    return lambda: invoice_create_top_up(customer_id=customer.pk, amount=Decimal("100"), actor=SYSTEM)


def _create_purchase():
    customer = CustomerFactory()
    return lambda: invoice_create_purchase(customer_id=customer.pk, actor=SYSTEM, lines=[
        PurchaseLine(description="IP phone", quantity="2", unit_price="80", kind="hardware")])


def _send():
    invoice = top_up_invoice(CustomerFactory(), "100")
    return lambda: invoice_send(invoice_id=invoice.pk, actor=SYSTEM)


def _mark_sent():
    invoice = top_up_invoice(CustomerFactory(), "100")
    return lambda: invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)


def _void():
    invoice = top_up_invoice(CustomerFactory(), "100", sent=True)
    return lambda: invoice_void(invoice_id=invoice.pk, reason="Paid by card instead", actor=SYSTEM)


def _email_deliver():
    invoice = top_up_invoice(CustomerFactory(), "100")
    invoice_send(invoice_id=invoice.pk, actor=SYSTEM)  # queues the email (delivered after a commit never reached)
    note = Notification.objects.get(source_type="invoices.invoice", source_id=invoice.pk, status="queued")
    return lambda: invoice_email_deliver(notification_id=note.pk, actor=SYSTEM)


def _bill_customer_period():
    customer = CustomerFactory()
    usage(customer, "12.5", at=FEB_USAGE)
    return lambda: bill_customer_period(cash_source=PAYMENT_CASH, customer_id=customer.pk, period="2026-02",
                                        actor=SYSTEM, at=MARCH_1)


def _monthly_billing_run():
    usage(CustomerFactory(invoice_setup=InvoiceSetup.CONSOLIDATED), "12.5", at=FEB_USAGE)  # the one candidate
    return lambda: monthly_billing_run(cash_source=PAYMENT_CASH, period="2026-02", actor=SYSTEM, at=MARCH_1)


def _billing_run_start():
    from invoices.services.billing_run import billing_run_start

    usage(CustomerFactory(), "12.5", at=FEB_USAGE)  # the one candidate: one chunk to hand out
    return lambda: billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, at=MARCH_1)


def _subscription_renew():
    sub = SubscriptionFactory(customer=CustomerFactory(), renewal_date=APR1)
    return lambda: subscription_renew(subscription_id=sub.pk, on_date=APR1, actor=SYSTEM)


def _renew_due_subscriptions():
    SubscriptionFactory(customer=CustomerFactory(), renewal_date=APR1)  # the one due
    return lambda: renew_due_subscriptions(on_date=APR1, actor=SYSTEM)


SCENARIOS = {
    "invoices.services.lifecycle.invoice_create_top_up": _create_top_up,
    "invoices.services.lifecycle.invoice_create_purchase": _create_purchase,
    "invoices.services.lifecycle.invoice_send": _send,
    "invoices.services.lifecycle.invoice_mark_sent": _mark_sent,
    "invoices.services.lifecycle.invoice_void": _void,
    "invoices.services.delivery.invoice_email_deliver": _email_deliver,
    "invoices.services.billing.bill_customer_period": _bill_customer_period,
    "invoices.services.billing.monthly_billing_run": _monthly_billing_run,
    "invoices.services.billing_run.billing_run_start": _billing_run_start,
    "invoices.services.renewals.subscription_renew": _subscription_renew,
    "invoices.services.renewals.renew_due_subscriptions": _renew_due_subscriptions,
}
