"""Demo payments for `manage.py seed_demo` (after the customers and invoices demos): payments in every state
(unassigned, unallocated, partially allocated, allocated, deleted), an undone allocation, a provisioned
top-up invoice, a top-up payment, credit notes (against an invoice and as account credit) and a withdrawal.

Everything goes through the services, so the ledger stays consistent (check_ledger, check_finance clean)
and audited. Idempotent: each step is keyed by its payment reference (DEMO-PAY-…) or credit-note /
withdrawal remark and is skipped when it already exists."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from audit.actors import Actor
from customers.models import Customer, InvoiceSetup
from invoices.models import Invoice
from invoices.services.lifecycle import (
    PurchaseLine,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
)

from .models import CreditNote, Payment, PaymentMethod, Withdrawal
from .selectors import credit_position
from .services.allocation import allocation_reverse, payment_allocate
from .services.credit_notes import credit_note_issue
from .services.payments import payment_delete, payment_record
from .services.top_ups import payment_top_up
from .services.withdrawals import withdrawal_record

ACTOR = Actor.system("seed-demo")


def _customer(setup: str, currency: str = "SGD", prefer: tuple[str, ...] = ()) -> Customer | None:
    for code in prefer:
        found = Customer.objects.filter(code=code, invoice_setup=setup, currency=currency).first()
        if found:
            return found
    return Customer.objects.filter(invoice_setup=setup, currency=currency).order_by("pk").first()


def _pay(reference: str, customer: Customer | None, amount: str, days_ago: int, *, method=PaymentMethod.BANK_TRANSFER,
         currency: str = "", invoice_number: str = "", remark: str = "") -> tuple[Payment, bool]:
    existing = Payment.objects.filter(reference=reference).first()
    if existing:
        return existing, False
    payment = payment_record(customer=customer, amount=Decimal(amount), currency=currency, method=method,
                             received_date=timezone.localdate() - dt.timedelta(days=days_ago), reference=reference,
                             invoice_number=invoice_number, remark=remark, actor=ACTOR)
    return payment, True


def _purchase(customer: Customer, name: str, amount: str) -> Invoice:
    invoice = invoice_create_purchase(customer_id=customer.pk, name=name, actor=ACTOR, lines=[
        PurchaseLine(description=name, quantity="1", unit_price=amount, tax_rate="0")])
    return invoice_mark_sent(invoice_id=invoice.pk, actor=ACTOR)


def seed(stdout) -> str:
    created: list[str] = []
    individual = _customer(InvoiceSetup.INDIVIDUAL, prefer=("ACME",))
    individual2 = _customer(InvoiceSetup.INDIVIDUAL, prefer=("UMBRELLA",))
    consolidated = _customer(InvoiceSetup.CONSOLIDATED, prefer=("GLOBEX",))
    consolidated2 = _customer(InvoiceSetup.CONSOLIDATED, prefer=("HOOLI",))
    none_setup = _customer(InvoiceSetup.NONE, prefer=("INITECH",))
    if not all((individual, individual2, consolidated, consolidated2, none_setup)):
        return "skipped (run the customers demo first: it needs customers of every invoice setup)"

    # Unassigned: money whose payer is not known yet (one in USD).
    if _pay("DEMO-PAY-001", None, "1250.00", 3, method=PaymentMethod.TELEGRAPHIC_TRANSFER,
            remark="TT from 'ACME HLDGS' - which account?")[1]:
        created.append("unassigned payment")
    if _pay("DEMO-PAY-002", None, "75.50", 9, method=PaymentMethod.CHEQUE, currency="USD")[1]:
        created.append("unassigned USD cheque")

    # Unallocated: assigned, waiting to be allocated.
    if _pay("DEMO-PAY-003", individual, "500.00", 12, invoice_number="see remittance")[1]:
        created.append("unallocated payment")

    # Partially allocated across two purchase invoices, with one allocation undone (history).
    payment, new = _pay("DEMO-PAY-004", individual2, "800.00", 20, invoice_number="2 invoices")
    if new:
        first = _purchase(individual2, "Contact center agents (annual)", "300.00")
        second = _purchase(individual2, "Desk phones (12)", "250.75")
        payment_allocate(payment=payment, lines=[(first.pk, "300.00"), (second.pk, "100.00")], actor=ACTOR)
        (wrong,) = payment_allocate(payment=payment, lines=[(second.pk, "50.00")], actor=ACTOR)
        allocation_reverse(allocation=wrong, actor=ACTOR, reason="Allocated twice by mistake")
        credit_note_issue(customer=individual2, invoice=second, amount=Decimal("50.75"),
                          reason="Two desk phones returned (demo)", actor=ACTOR)
        created.append("partially allocated payment, undone allocation, credit note against an invoice")

    # Allocated: a provisioned top-up invoice of a consolidated customer.
    payment, new = _pay("DEMO-PAY-005", consolidated, "200.00", 15, method=PaymentMethod.CHEQUE)
    if new:
        top_up = invoice_create_top_up(customer_id=consolidated.pk, amount="200.00", actor=ACTOR)
        top_up = invoice_mark_sent(invoice_id=top_up.pk, actor=ACTOR)
        payment_allocate(payment=payment, lines=[(top_up.pk, "200.00")], actor=ACTOR)
        created.append("provisioned top-up invoice")

    # Partially allocated by a top-up payment (credits straight from the payment).
    payment, new = _pay("DEMO-PAY-006", consolidated2, "150.00", 7)
    if new:
        payment_top_up(payment=payment, amount=Decimal("100.00"), remark="Credits requested by phone", actor=ACTOR)
        created.append("top-up payment")

    # Allocated to one purchase invoice in full.
    payment, new = _pay("DEMO-PAY-007", individual, "120.00", 5, method=PaymentMethod.CASH)
    if new:
        invoice = _purchase(individual, "Call recording add-on (12 months)", "120.00")
        payment_allocate(payment=payment, lines=[(invoice.pk, "120.00")], actor=ACTOR)
        created.append("allocated payment")

    # Deleted: keyed in twice.
    payment, new = _pay("DEMO-PAY-008", individual, "42.00", 2, remark="Entered twice")
    if new:
        payment_delete(payment=payment, actor=ACTOR, reason="Duplicate of another entry")
        created.append("deleted payment")

    # Account credit and a withdrawal of own credit.
    if not CreditNote.objects.filter(reason="Service outage credit (demo)").exists():
        credit_note_issue(customer=none_setup, amount=Decimal("25.00"), reason="Service outage credit (demo)",
                          actor=ACTOR)
        created.append("account credit note")
    if not Withdrawal.objects.filter(remark="Refund of overpayment (demo)").exists():
        payment, _ = _pay("DEMO-PAY-009", individual, "60.00", 4)
        if payment.amount_topped_up == 0 and payment.amount_unallocated > 0:
            payment_top_up(payment=payment, amount=payment.amount_unallocated, actor=ACTOR)
        individual.refresh_from_db()
        withdrawable = credit_position(individual).withdrawable
        if withdrawable >= Decimal("1"):
            withdrawal_record(customer=individual, amount=min(Decimal("20.00"), withdrawable), method="bank_transfer",
                              reference="REFUND-ACME-01", remark="Refund of overpayment (demo)", actor=ACTOR)
            created.append("withdrawal")
    return ", ".join(created) if created else "nothing new"
