"""Audit walk scenarios for the customers services (see test_every_service_audits.py): each sets up with
factories (and services where it must) and returns a callable that calls the service once."""

import datetime as dt
from decimal import Decimal

from customers.models import NotificationKind, TransactionKind
from customers.services import (
    ChargeLine,
    adjustment_post,
    charge_post,
    charge_post_batch,
    customer_create,
    customer_update,
    customer_user_create,
    expire_due_reservations,
    master_wallet_create,
    master_wallet_fund,
    master_wallet_transfer,
    notification_record,
    reservation_commit,
    reservation_expire,
    reservation_release,
    reservation_reserve,
    subscription_create,
    subscription_update,
)
from tests.customers.factories import NOW, SYSTEM, SubscriptionFactory, funded_wallet, postpaid, prepaid

D = Decimal
LATER = NOW + dt.timedelta(seconds=30)
AFTER_TIMEOUT = NOW + dt.timedelta(hours=1)


def create():
    return lambda: customer_create(name="Walk Pte Ltd", code="WALK", billing_email="ap@walk.test",
                                   account_type="postpaid", credit_limit=D("100"), actor=SYSTEM, at=NOW)


def update():
    customer = postpaid("100")
    return lambda: customer_update(customer_id=customer.pk, credit_limit=D("250"), actor=SYSTEM, at=NOW,
                                   reason="walk")


def user_create():
    customer = prepaid()
    return lambda: customer_user_create(customer_id=customer.pk, username="walker-portal", email="w@walk.test",
                                        password="walk-the-ledger", actor=SYSTEM, at=NOW)


def charge():
    customer = postpaid("100")
    return lambda: charge_post(customer_id=customer.pk, kind=TransactionKind.CALL, amount=D("1.25"), actor=SYSTEM,
                               at=NOW, idempotency_key="walk-cdr-1")


def batch():
    customer = postpaid("100")
    lines = [ChargeLine(kind=TransactionKind.SMS, amount=D("0.05"), occurred_at=NOW - dt.timedelta(minutes=i))
             for i in range(3)]
    return lambda: charge_post_batch(customer_id=customer.pk, lines=lines, batch_reference="walk-batch",
                                     actor=SYSTEM, at=NOW)


def adjustment():
    customer = postpaid("100")
    wrong = charge_post(customer_id=customer.pk, kind=TransactionKind.CALL, amount=D("3"), actor=SYSTEM, at=NOW)
    return lambda: adjustment_post(customer_id=customer.pk, reverses_id=wrong.pk, reason="rated twice",
                                   actor=SYSTEM, at=LATER)


def _reserved():
    customer = postpaid("100")
    return reservation_reserve(customer_id=customer.pk, amount=D("5"), actor=SYSTEM, at=NOW, timeout_seconds=60)


def reserve():
    customer = postpaid("100")
    return lambda: reservation_reserve(customer_id=customer.pk, amount=D("5"), actor=SYSTEM, at=NOW)


def commit():
    r = _reserved()
    return lambda: reservation_commit(reservation_id=r.pk, amount=D("2"), actor=SYSTEM, at=LATER)


def release():
    r = _reserved()
    return lambda: reservation_release(reservation_id=r.pk, actor=SYSTEM, at=LATER, reason="hung up")


def expire():
    r = _reserved()
    return lambda: reservation_expire(reservation_id=r.pk, actor=SYSTEM, now=AFTER_TIMEOUT)


def expire_due():
    _reserved()  # the one reservation past its timeout: one event
    return lambda: expire_due_reservations(now=AFTER_TIMEOUT, actor=SYSTEM)


def wallet_create():
    return lambda: master_wallet_create(name="Walk wallet", currency="SGD", actor=SYSTEM, at=NOW)


def wallet_fund():
    wallet = funded_wallet("0")
    return lambda: master_wallet_fund(wallet_id=wallet.pk, amount=D("100"), reference="TT 1", actor=SYSTEM, at=NOW)


def wallet_transfer():
    funded_wallet("100")
    customer = prepaid()
    return lambda: master_wallet_transfer(customer_id=customer.pk, amount=D("40"), actor=SYSTEM, at=NOW)


def sub_create():
    customer = prepaid()
    return lambda: subscription_create(customer_id=customer.pk, product="SIP trunk", renewal_date=dt.date(2026, 4, 1),
                                       renewal_price=D("30"), renewal_cost=D("35"), actor=SYSTEM, at=NOW)


def sub_update():
    sub = SubscriptionFactory()
    return lambda: subscription_update(subscription_id=sub.pk, renewal_price=D("25"), actor=SYSTEM, at=NOW)


def notification():
    customer = prepaid()
    return lambda: notification_record(customer_id=customer.pk, kind=NotificationKind.INVOICE,
                                       recipient=customer.billing_email, subject="Invoice INV-1", actor=SYSTEM, at=NOW)


SCENARIOS = {
    "customers.services.accounts.customer_create": create,
    "customers.services.accounts.customer_update": update,
    "customers.services.accounts.customer_user_create": user_create,
    "customers.services.charges.charge_post": charge,
    "customers.services.charges.charge_post_batch": batch,
    "customers.services.charges.adjustment_post": adjustment,
    "customers.services.reservations.reservation_reserve": reserve,
    "customers.services.reservations.reservation_commit": commit,
    "customers.services.reservations.reservation_release": release,
    "customers.services.reservations.reservation_expire": expire,
    "customers.services.reservations.expire_due_reservations": expire_due,
    "customers.services.wallet.master_wallet_create": wallet_create,
    "customers.services.wallet.master_wallet_fund": wallet_fund,
    "customers.services.wallet.master_wallet_transfer": wallet_transfer,
    "customers.services.subscriptions.subscription_create": sub_create,
    "customers.services.subscriptions.subscription_update": sub_update,
    "customers.services.notifications.notification_record": notification,
}
