"""Audit walk scenarios for the finance services (see tests/audit/test_every_service_audits.py): each sets
up with factories and other services, then returns a zero-argument callable that calls its service once.

Payments, allocation, top-ups, credit notes, withdrawals: this first section. Other finance services (cards,
payment settings, auto top-up) add their own entries to SCENARIOS below it."""

from __future__ import annotations

from decimal import Decimal

from customers.models import InvoiceSetup
from finance.models import TopUp
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import (
    payment_assign,
    payment_delete,
    payment_record,
    payment_unassign,
    payment_update,
)
from finance.services.top_ups import payment_top_up, top_up_remove
from finance.services.withdrawals import withdrawal_record
from tests.finance.factories import (
    SYSTEM,
    TODAY,
    customer,
    monthly_invoice,
    payment,
    purchase_invoice,
    top_up_invoice,
)


def _record():
    cust = customer()
    return lambda: payment_record(customer=cust, amount=Decimal("10"), received_date=TODAY, method="cash",
                                  reference="R-1", actor=SYSTEM)


def _update():
    pay = payment(customer(), "10")
    return lambda: payment_update(payment=pay, amount=Decimal("12"), received_date=pay.received_date,
                                  method=pay.method, actor=SYSTEM)


def _delete():
    pay = payment(customer(), "10")
    return lambda: payment_delete(payment=pay, actor=SYSTEM, reason="duplicate")


def _assign():
    cust, pay = customer(), payment(None, "10")
    return lambda: payment_assign(payment=pay, customer=cust, actor=SYSTEM)


def _unassign():
    pay = payment(customer(), "10")
    return lambda: payment_unassign(payment=pay, actor=SYSTEM, reason="wrong customer")


def _allocate():
    cust = customer()
    inv, top = purchase_invoice(cust, "30"), top_up_invoice(cust, "20")
    pay = payment(None, "100")
    return lambda: payment_allocate(payment=pay, lines=[(inv.pk, "30"), (top.pk, "20")], actor=SYSTEM)


def _reverse():
    cust = customer()
    inv = purchase_invoice(cust, "30")
    (row,) = payment_allocate(payment=payment(cust, "30"), lines=[(inv.pk, "30")], actor=SYSTEM)
    return lambda: allocation_reverse(allocation=row, actor=SYSTEM, reason="wrong invoice")


def _pay_with_credits():
    cust = customer(InvoiceSetup.CONSOLIDATED)
    payment_top_up(payment=payment(cust, "50"), amount="50", actor=SYSTEM)
    inv = monthly_invoice(cust, "20")
    return lambda: invoice_pay_with_credits(invoice=inv, amount="20", actor=SYSTEM)


def _top_up():
    pay = payment(customer(InvoiceSetup.CONSOLIDATED), "40")
    return lambda: payment_top_up(payment=pay, amount="15", actor=SYSTEM)


def _top_up_remove():
    cust = customer(InvoiceSetup.CONSOLIDATED)
    inv = top_up_invoice(cust, "25")
    payment_allocate(payment=payment(cust, "25"), lines=[(inv.pk, "25")], actor=SYSTEM)
    top_up = TopUp.objects.get(invoice=inv)
    return lambda: top_up_remove(top_up=top_up, actor=SYSTEM, reason="wrong account")


def _credit_note():
    cust = customer()
    inv = purchase_invoice(cust, "30")
    return lambda: credit_note_issue(customer=cust, invoice=inv, amount="30", reason="cancelled", actor=SYSTEM)


def _withdrawal():
    cust = customer()
    payment_top_up(payment=payment(cust, "50"), amount="50", actor=SYSTEM)
    return lambda: withdrawal_record(customer=cust, amount="20", method="bank_transfer", reference="W-1",
                                     actor=SYSTEM)


SCENARIOS = {
    "finance.services.payments.payment_record": _record,
    "finance.services.payments.payment_update": _update,
    "finance.services.payments.payment_delete": _delete,
    "finance.services.payments.payment_assign": _assign,
    "finance.services.payments.payment_unassign": _unassign,
    "finance.services.allocation.payment_allocate": _allocate,
    "finance.services.allocation.allocation_reverse": _reverse,
    "finance.services.allocation.invoice_pay_with_credits": _pay_with_credits,
    "finance.services.top_ups.payment_top_up": _top_up,
    "finance.services.top_ups.top_up_remove": _top_up_remove,
    "finance.services.credit_notes.credit_note_issue": _credit_note,
    "finance.services.withdrawals.withdrawal_record": _withdrawal,
}

# Card services: their scenarios live beside these (tests/audit/scenarios_finance_cards.py).
from tests.audit.scenarios_finance_cards import SCENARIOS as _CARD_SCENARIOS  # noqa: E402

SCENARIOS.update(_CARD_SCENARIOS)

# Payment settings and the auto top-up: tests/audit/scenarios_finance_settings.py.
from tests.audit.scenarios_finance_settings import SCENARIOS as _SETTINGS_SCENARIOS  # noqa: E402

SCENARIOS.update(_SETTINGS_SCENARIOS)

# The portal's Cards and Payments pages: tests/audit/scenarios_finance_portal_cards.py.
from tests.audit.scenarios_finance_portal_cards import SCENARIOS as _PORTAL_CARD_SCENARIOS  # noqa: E402

SCENARIOS.update(_PORTAL_CARD_SCENARIOS)
