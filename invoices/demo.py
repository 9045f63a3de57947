"""Demo invoices for `manage.py seed_demo` (after the customers' demo): the monthly billing run over the
past six months for every invoiced customer (monthly invoices, some paid from credit), purchase invoices
for `individual` customers, and top-up invoices as drafts, awaiting payment and void. Paying them with
real payments (partially paid, paid, provisioned) is the finance demo's part.

Everything goes through the services, so the ledger stays consistent (check_ledger clean) and audited.
Idempotent: the monthly runs are idempotent per customer and month; a manual demo invoice is recognised by
its customer and name and not made twice. Invoices are issued without email (as "Mark as sent"), so the
demo does not print a hundred emails to the console."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from audit.actors import Actor
from customers.models import AccountType, Customer, InvoiceSetup, TransactionKind

from .models import Invoice
from .services import (
    PurchaseLine,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
    invoice_void,
    monthly_billing_run,
)
from .services.common import local_date

ACTOR = Actor.system("seed-demo")
MONTHS = 6
PURCHASES = [
    ("Office starter kit", [("Desk phone (Yealink T54W)", TransactionKind.HARDWARE, "3", "189.00"),
                            ("Installation and configuration", TransactionKind.SERVICE, "1", "250.00")]),
    ("Contact center add-ons", [("Call recording, 12 months", TransactionKind.ADD_ON, "10", "4.50"),
                                ("Wallboard licence", TransactionKind.SUBSCRIPTION, "1", "39.90")]),
]
TOP_UPS = [  # (name, amount, what happens to it)
    ("Top-up request", "500.00", "draft"),
    ("Top-up for the quarter", "1500.00", "sent"),
    ("Top-up (cheque expected)", "300.00", "sent"),
    ("Top-up issued twice by mistake", "300.00", "void"),
]


def _periods(now: dt.datetime) -> list[tuple[dt.date, dt.datetime]]:
    """The six months before the current one, oldest first, each with the moment its run happened (the 1st
    of the next month, 02:00 in the operator's time zone)."""
    tz = timezone.get_current_timezone()
    month = local_date(now).replace(day=1)
    out = []
    for _ in range(MONTHS):
        start = (month - dt.timedelta(days=1)).replace(day=1)
        out.append((start, min(dt.datetime.combine(month, dt.time(2, 0), tzinfo=tz), now)))
        month = start
    return out[::-1]


def _exists(customer: Customer, name: str) -> bool:
    return Invoice.objects.filter(customer=customer, name=name).exists()


def seed(stdout) -> str:
    now = timezone.now()
    monthly = 0
    for period, at in _periods(now):
        # No payment cash: the demo's payments are finance's and its demo runs after this one (seed_demo:
        # customers, invoices, finance), so there is none to allocate yet and every unapplied amount is credit.
        result = monthly_billing_run(period=period, actor=ACTOR, cash_source=None, at=at, send_email=False)
        monthly += len(result.invoiced)
        for customer_id, message in result.failed:
            stdout.write(f"  monthly run {period:%Y-%m}, customer #{customer_id}: {message}")

    created = 0
    individual = Customer.objects.filter(invoice_setup=InvoiceSetup.INDIVIDUAL).order_by("code")
    for i, customer in enumerate(individual[:6]):
        name, lines = PURCHASES[i % len(PURCHASES)]
        if _exists(customer, name):
            continue
        invoice = invoice_create_purchase(
            customer_id=customer.pk, name=name, actor=ACTOR, issue_date=local_date(now) - dt.timedelta(days=3 * i),
            lines=[PurchaseLine(description=d, kind=k, quantity=q, unit_price=p) for d, k, q, p in lines])
        if i % 3 != 2:  # most are issued; every third stays a draft
            invoice_mark_sent(invoice_id=invoice.pk, actor=ACTOR)
        created += 1

    prepaid = Customer.objects.filter(account_type=AccountType.PREPAID).order_by("code")
    for customer, (name, amount, state) in zip(prepaid[:len(TOP_UPS)], TOP_UPS, strict=False):
        if _exists(customer, name):
            continue
        invoice = invoice_create_top_up(customer_id=customer.pk, amount=Decimal(amount), name=name, actor=ACTOR)
        if state in ("sent", "void"):
            invoice_mark_sent(invoice_id=invoice.pk, actor=ACTOR)
        if state == "void":
            invoice_void(invoice_id=invoice.pk, reason="Issued twice: the customer pays the other one", actor=ACTOR)
        created += 1
    return f"{monthly} monthly invoices from the billing runs, {created} purchase and top-up invoices"
