"""Test helpers for payment settings and the daily auto top-up: customers under (or above) their threshold
with each method, a saved test card on the fake Stripe, the master wallet, and what a day left behind.

    from tests.finance.auto_top_up_support import RUN_DATE, AT, at_six, customer_with, save_card
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import stripe
from django.db.models import Sum

from audit.actors import Actor
from customers.models import Customer, MasterWallet, Notification, NotificationKind, TransactionKind
from finance.models import AutoTopUp, AutoTopUpStatus, CardPayment, PaymentSettings, TopUpMethod
from finance.services.auto_top_up import payment_settings_update, payment_settings_update_from_portal
from tests.customers.factories import CustomerFactory, funded_wallet, top_up

SYSTEM = Actor.system("tests")
STAFF = Actor(kind="staff", label="finance")
OPERATOR_TZ = zoneinfo.ZoneInfo("Asia/Singapore")
RUN_DATE = dt.date(2026, 3, 16)


def at_six(day: dt.date = RUN_DATE) -> dt.datetime:
    """06:00 in the operator's timezone on `day` (when beat fires the job)."""
    return dt.datetime.combine(day, dt.time(6, 0), tzinfo=OPERATOR_TZ)


AT = at_six()


def customer_with(method: str = TopUpMethod.MASTER_ACCOUNT, *, credits: str | Decimal = "20",
                  trigger: str | Decimal = "100", threshold: str | Decimal = "50", enabled: bool = True,
                  **kwargs) -> Customer:
    """A prepaid customer holding `credits` of usable credits with auto top-up set up by staff (cheque/TT,
    master account) — card customers need `save_card` first, then `card_settings`."""
    cust = CustomerFactory(**kwargs)
    if Decimal(credits):
        top_up(cust, Decimal(credits))
    if method != TopUpMethod.CARD:
        payment_settings_update(customer_id=cust.pk, method=method, trigger_amount=Decimal(trigger),
                                limit_threshold=Decimal(threshold), auto_top_up_enabled=enabled, actor=STAFF)
    cust.refresh_from_db()
    return cust


def save_card(fake_stripe, cust: Customer, card: str = "4242424242424242") -> Customer:
    """Save a test card for `cust` on the fake Stripe (as a portal top-up with 'save card' would)."""
    client = stripe.StripeClient("sk_test_ledgerdesk_tests", base_addresses={"api": fake_stripe.url})
    stripe_customer = client.v1.customers.create({"email": cust.billing_email, "name": cust.name})
    method = fake_stripe.add_payment_method(stripe_customer.id, card)
    Customer.objects.filter(pk=cust.pk).update(
        stripe_customer_id=stripe_customer.id, stripe_payment_method_id=method["id"],
        card_brand=method["card"]["brand"], card_last4=method["card"]["last4"])
    cust.refresh_from_db()
    return cust


def card_customer(fake_stripe, *, card: str = "4242424242424242", credits: str = "20", trigger: str = "100",
                  threshold: str = "50", **kwargs) -> Customer:
    """A customer who saved `card` in the portal and chose auto top-up by card."""
    cust = customer_with(TopUpMethod.CARD, credits=credits, **kwargs)
    save_card(fake_stripe, cust, card)
    payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount=Decimal(trigger),
                                        limit_threshold=Decimal(threshold), actor=SYSTEM)
    cust.refresh_from_db()
    return cust


def wallet(amount: str | Decimal = "100000", currency: str = "SGD") -> MasterWallet:
    return funded_wallet(amount, currency=currency)


def credited(cust: Customer, kind: str) -> Decimal:
    """The sum of the customer's ledger entries of `kind` (TOP_UP from a card, TRANSFER from the wallet)."""
    return cust.transactions.filter(kind=kind).aggregate(s=Sum("amount"))["s"] or Decimal("0")


def transfers(cust: Customer) -> Decimal:
    return credited(cust, TransactionKind.TRANSFER)


def rows(cust: Customer) -> list[AutoTopUp]:
    return list(AutoTopUp.objects.filter(customer=cust).order_by("run_date"))


def failure_notices(cust: Customer) -> list[Notification]:
    return list(Notification.objects.filter(customer=cust, kind=NotificationKind.TOP_UP_FAILED))


def fired_on(day: dt.date) -> int:
    return AutoTopUp.objects.filter(run_date=day, status=AutoTopUpStatus.FIRED).count()


def card_payments(cust: Customer) -> list[CardPayment]:
    return list(CardPayment.objects.filter(customer=cust).order_by("id"))


def settings_of(cust: Customer) -> PaymentSettings:
    return PaymentSettings.objects.get(customer=cust)


def wait_finished(run_id: int, timeout: float = 120):
    """The run once the workers have handled its every chunk (the chunk that ends last finishes it)."""
    import time

    from finance.models import AutoTopUpRun

    deadline = time.monotonic() + timeout
    while (run := AutoTopUpRun.objects.get(pk=run_id)).finished_at is None:
        assert time.monotonic() < deadline, f"run #{run_id} did not finish in {timeout} s"
        time.sleep(0.2)
    return run
