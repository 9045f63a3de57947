"""Audit walk scenarios for payment settings and the auto top-up (finance/services/auto_top_up.py), merged
into scenarios_finance.py's SCENARIOS. The job's two orchestrators are exempt in their module (their paths'
events are asserted in tests/finance/test_auto_top_up.py, TestAuditTrail)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from customers.models import Notification, NotificationKind
from finance.models import TopUpMethod
from finance.services.auto_top_up import (
    auto_top_up_customer,
    auto_top_up_notice_deliver,
    auto_top_up_run_now,
    payment_settings_update,
    payment_settings_update_from_portal,
)
from tests.audit.walk import needs
from tests.customers.factories import CustomerFactory
from tests.finance.auto_top_up_support import STAFF, SYSTEM, save_card

RUN_DATE = dt.date(2026, 3, 16)


def _update():
    cust = CustomerFactory()
    return lambda: payment_settings_update(customer_id=cust.pk, method=TopUpMethod.CHEQUE_TT,
                                           trigger_amount=Decimal("100"), limit_threshold=Decimal("50"),
                                           auto_top_up_enabled=True, actor=STAFF)


@needs("fake_stripe")
def _update_from_portal(fake_stripe):
    cust = save_card(fake_stripe, CustomerFactory())
    return lambda: payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount=Decimal("100"),
                                                       limit_threshold=Decimal("30"), actor=SYSTEM)


def _notice_deliver():
    cust = CustomerFactory()
    payment_settings_update(customer_id=cust.pk, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount=Decimal("100"),
                            limit_threshold=Decimal("50"), auto_top_up_enabled=True, actor=STAFF)
    # No master wallet in SGD: the top-up fails and queues its notice (delivered after commit, which the
    # walk's rolled-back transaction never reaches).
    auto_top_up_customer(customer_id=cust.pk, run_date=RUN_DATE, actor=SYSTEM)
    note = Notification.objects.get(customer=cust, kind=NotificationKind.TOP_UP_FAILED, status="queued")
    return lambda: auto_top_up_notice_deliver(notification_id=note.pk, actor=SYSTEM)


def _run_now():
    # Queues the run (its task is sent after commit, which the walk's rolled-back transaction never reaches).
    return lambda: auto_top_up_run_now(actor=STAFF)


SCENARIOS = {
    "finance.services.auto_top_up.auto_top_up_run_now": _run_now,
    "finance.services.auto_top_up.payment_settings_update": _update,
    "finance.services.auto_top_up.payment_settings_update_from_portal": _update_from_portal,
    "finance.services.auto_top_up.auto_top_up_notice_deliver": _notice_deliver,
}
