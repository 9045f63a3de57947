"""Customers, subscriptions, notifications and master wallets for tests, and a few helpers that move money
the way the services do (so the running totals always equal the rows).

    from tests.customers.factories import CustomerFactory, postpaid, prepaid, ledger_post, funded_wallet
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from customers import ledger
from customers.locks import lock_customer
from customers.models import (
    AccountType,
    Customer,
    InvoiceSetup,
    MasterWallet,
    Notification,
    NotificationKind,
    Subscription,
    Transaction,
    TransactionKind,
)

SYSTEM = Actor.system("tests")
NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)


class CustomerFactory(factory.django.DjangoModelFactory):
    """A customer with an empty ledger (running totals 0, consistent with no rows). Money goes in only
    through `ledger_post` or the services, never through the factory."""

    class Meta:
        model = Customer
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Customer {n} Pte Ltd")
    code = factory.Sequence(lambda n: f"C{n:05d}")
    billing_email = factory.LazyAttribute(lambda c: f"billing@{c.code.lower()}.example")
    currency = "SGD"
    account_type = AccountType.PREPAID
    invoice_setup = InvoiceSetup.INDIVIDUAL
    credit_limit = Decimal("0")
    show_invoices_tab = True


def prepaid(**kwargs) -> Customer:
    return CustomerFactory(account_type=AccountType.PREPAID, credit_limit=Decimal("0"), **kwargs)


def postpaid(credit_limit: Decimal | str = "100", **kwargs) -> Customer:
    return CustomerFactory(account_type=AccountType.POSTPAID, credit_limit=Decimal(credit_limit), **kwargs)


def ledger_post(customer: Customer, kind: str, amount: Decimal | str, *, at: dt.datetime | None = None,
                bucket: str | None = None, **entry_kwargs) -> Transaction:
    """Post one entry the way a service does (customer locked, one transaction), without an audit event:
    for arranging a test's starting ledger. The customer object's figures are refreshed."""
    with transaction.atomic():
        locked = lock_customer(customer.pk)
        (row,) = ledger.post(locked, [ledger.Entry(kind=kind, amount=Decimal(amount), bucket=bucket,
                                                   **entry_kwargs)], at=at or timezone.now())
    customer.refresh_from_db()
    return row


def top_up(customer: Customer, amount: Decimal | str, *, at: dt.datetime | None = None) -> Transaction:
    """Credit as finance posts it (a TOP_UP entry: unbilled CR, or due CR for `individual` customers)."""
    return ledger_post(customer, TransactionKind.TOP_UP, Decimal(amount), at=at)


def funded_wallet(amount: Decimal | str = "1000", *, name: str | None = None, currency: str = "SGD") -> MasterWallet:
    """A master wallet holding `amount`, funded through the service (so its entries add up)."""
    from customers.services import master_wallet_create, master_wallet_fund

    wallet = master_wallet_create(name=name or f"Master {currency} {MasterWallet.objects.count() + 1}",
                                  currency=currency, actor=SYSTEM)
    if Decimal(amount):
        master_wallet_fund(wallet_id=wallet.pk, amount=Decimal(amount), reference="test funding", actor=SYSTEM,
                           at=timezone.now())
    wallet.refresh_from_db()
    return wallet


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    product = factory.Sequence(lambda n: f"Cloud PBX seat {n}")
    kind = TransactionKind.SUBSCRIPTION
    quantity = 1
    period_months = 1
    renewal_date = dt.date(2026, 4, 1)
    renewal_price = Decimal("20.00")
    renewal_cost = Decimal("12.00")


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    customer = factory.SubFactory(CustomerFactory)
    kind = NotificationKind.INVOICE
    channel = "email"
    recipient = factory.LazyAttribute(lambda n: n.customer.billing_email)
    subject = "Your invoice"
    status = "sent"
    sent_at = NOW


def portal_user(customer: Customer, username: str = "portal", password: str | None = None):
    """A portal login for `customer` (through customer_user_create)."""
    from customers.services import customer_user_create
    from tests.factories import PASSWORD

    return customer_user_create(customer_id=customer.pk, username=username, email=f"{username}@example.com",
                                password=password or PASSWORD, actor=SYSTEM)
