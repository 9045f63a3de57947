"""Credit notes (against an invoice or as account credit, gapless numbers, PDF) and withdrawals (never more
than the customer's own credit)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from audit.models import AuditEvent
from customers.models import InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import CreditNote, Withdrawal
from finance.payments.pdf import render_credit_note_pdf
from finance.selectors import credit_position
from finance.services.allocation import payment_allocate
from finance.services.credit_notes import CreditNoteError, credit_note_issue
from finance.services.top_ups import payment_top_up
from finance.services.withdrawals import WithdrawalError, withdrawal_record
from invoices.models import InvoiceStatus
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice
from tests.threads import run_threads

pytestmark = pytest.mark.django_db


def _state(*objs):
    out = [Transaction.objects.count(), AuditEvent.objects.count(), CreditNote.objects.count(),
           Withdrawal.objects.count()]
    for o in objs:
        o.refresh_from_db()
        out.append(tuple(getattr(o, f, None) for f in ("amount_due", "amount_unbilled", "status", "amount_credited")))
    return out


class TestCreditNoteIssue:
    def test_against_an_invoice_reduces_what_it_owes(self):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        cust.refresh_from_db()
        due = cust.amount_due
        note = credit_note_issue(customer=cust, invoice=inv, amount="30", reason="Price adjustment", actor=SYSTEM)
        inv.refresh_from_db(), cust.refresh_from_db()
        assert note.number.startswith("CN-") and note.invoice == inv
        assert inv.amount_credited == Decimal("30") and inv.amount_outstanding == Decimal("70")
        assert inv.status == InvoiceStatus.PARTIALLY_PAID
        assert cust.amount_due == due + Decimal("30")
        entry = Transaction.objects.get(source_type="finance.creditnote", source_id=note.pk)
        assert (entry.kind, entry.bucket, entry.amount) == (TransactionKind.CREDIT_NOTE, "due", Decimal("30"))
        assert AuditEvent.objects.filter(action="finance.credit_note.issue").count() == 1
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_covering_the_whole_total_cancels_the_invoice(self):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        credit_note_issue(customer=cust, invoice=inv, amount="100", reason="Cancelled order", actor=SYSTEM)
        inv.refresh_from_db(), cust.refresh_from_db()
        assert inv.status == InvoiceStatus.VOID and inv.voided_at is not None
        assert cust.amount_due == 0  # -100 invoice +100 credit note

    def test_credit_note_for_the_rest_of_a_partly_paid_invoice_settles_it(self):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        payment_allocate(payment=payment(cust, "60"), lines=[(inv.pk, "60")], actor=SYSTEM)
        credit_note_issue(customer=cust, invoice=inv, amount="40", reason="Discount", actor=SYSTEM)
        inv.refresh_from_db()
        assert inv.status == InvoiceStatus.PAID and inv.amount_outstanding == 0

    def test_account_credit(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        note = credit_note_issue(customer=cust, amount="12.345678", reason="Outage credit", actor=SYSTEM)
        cust.refresh_from_db()
        assert note.invoice_id is None and cust.amount_due == Decimal("12.345678")
        assert credit_position(cust).credit_balance == Decimal("12.345678")

    def test_numbers_are_gapless_and_a_refusal_takes_none(self):
        cust = customer()
        inv = purchase_invoice(cust, "10")
        first = credit_note_issue(customer=cust, amount="1", reason="a", actor=SYSTEM)
        with pytest.raises(CreditNoteError):
            credit_note_issue(customer=cust, invoice=inv, amount="11", reason="too much", actor=SYSTEM)
        second = credit_note_issue(customer=cust, amount="1", reason="b", actor=SYSTEM)
        assert int(second.number.rsplit("-", 1)[1]) == int(first.number.rsplit("-", 1)[1]) + 1

    @pytest.mark.parametrize("amount, message", [("0", "more than zero"), ("-1", "more than zero"),
                                                 ("1.0000001", "6 decimal")])
    def test_refuses_bad_amounts(self, amount, message):
        cust = customer()
        before = _state(cust)
        with pytest.raises(CreditNoteError, match=message):
            credit_note_issue(customer=cust, amount=amount, reason="x", actor=SYSTEM)
        assert _state(cust) == before

    def test_refuses_what_cannot_be_credited(self):
        cust, other = customer(), customer()
        inv = purchase_invoice(cust, "10")
        topup = top_up_invoice(cust, "10")
        before = _state(cust, inv)
        with pytest.raises(CreditNoteError, match="more than|outstanding; a credit note of 10.5"):
            credit_note_issue(customer=cust, invoice=inv, amount="10.5", reason="x", actor=SYSTEM)
        with pytest.raises(CreditNoteError, match="belongs to another customer"):
            credit_note_issue(customer=other, invoice=inv, amount="1", reason="x", actor=SYSTEM)
        with pytest.raises(CreditNoteError, match="top-up invoice"):
            credit_note_issue(customer=cust, invoice=topup, amount="1", reason="x", actor=SYSTEM)
        with pytest.raises(CreditNoteError, match="in SGD; a credit note in USD"):
            credit_note_issue(customer=cust, amount="1", currency="USD", reason="x", actor=SYSTEM)
        with pytest.raises(CreditNoteError, match="reason"):
            credit_note_issue(customer=cust, amount="1", reason="  ", actor=SYSTEM)
        assert _state(cust, inv) == before
        credit_note_issue(customer=cust, invoice=inv, amount="10", reason="cancel", actor=SYSTEM)
        with pytest.raises(CreditNoteError, match="is credited"):
            credit_note_issue(customer=cust, invoice=inv, amount="1", reason="x", actor=SYSTEM)

    def test_the_pdf_shows_the_number_and_the_amount(self):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        note = credit_note_issue(customer=cust, invoice=inv, amount="65.979991", reason="Service credit",
                                 actor=SYSTEM)
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render_credit_note_pdf(note))).pages)
        assert note.number in text and "65.979991" in text and inv.number in text and "CREDIT NOTE" in text


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_notes_get_unique_gapless_numbers():
    cust = customer()

    def work(_n: int):
        for _ in range(3):
            credit_note_issue(customer=cust, amount="1", reason="race", actor=SYSTEM)

    errors = run_threads(6, work)
    assert not errors
    numbers = sorted(int(n.rsplit("-", 1)[1]) for n in CreditNote.objects.values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + 18))


class TestWithdrawal:
    def test_pays_own_credit_back(self):
        cust = customer()
        payment_top_up(payment=payment(cust, "100"), amount="100", actor=SYSTEM)
        w = withdrawal_record(customer=cust, amount="40", method="bank_transfer", reference="REF-9",
                              remark="closing", actor=SYSTEM)
        cust.refresh_from_db()
        assert cust.amount_due == Decimal("60") and w.currency == "SGD"
        entry = Transaction.objects.get(source_type="finance.withdrawal", source_id=w.pk)
        assert (entry.kind, entry.bucket, entry.amount) == (TransactionKind.WITHDRAWAL, "due", Decimal("-40"))
        assert AuditEvent.objects.filter(action="finance.withdrawal.record").count() == 1
        assert ledger_mismatches() == []

    def test_never_more_than_the_customers_own_credit(self):
        cust = customer(credit_limit="500")  # postpaid: borrowed money is not theirs to withdraw
        payment_top_up(payment=payment(cust, "100"), amount="100", actor=SYSTEM)
        ledger_post(cust, TransactionKind.CALL, "-30")  # spent 30
        purchase_invoice(cust, "20")  # 20 of it is owed on an open invoice
        cust.refresh_from_db()
        position = credit_position(cust)
        # amount due 80 (100 - 20 invoice), credit balance 70 (100 - 30 spent): the smaller
        assert (cust.amount_due, position.credit_balance, position.withdrawable) == (
            Decimal("80"), Decimal("70"), Decimal("70"))
        before = _state(cust)
        with pytest.raises(WithdrawalError, match="at most 70.00 SGD"):
            withdrawal_record(customer=cust, amount="70.000001", method="cash", actor=SYSTEM)
        assert _state(cust) == before
        withdrawal_record(customer=cust, amount="70", method="cash", actor=SYSTEM)

    def test_unallocated_payment_money_is_not_withdrawable_until_topped_up(self):
        cust = customer()
        pay = payment(cust, "50")
        assert credit_position(cust).withdrawable == 0
        with pytest.raises(WithdrawalError, match="at most 0.00 SGD"):
            withdrawal_record(customer=cust, amount="1", method="cash", actor=SYSTEM)
        payment_top_up(payment=pay, amount="50", actor=SYSTEM)
        cust.refresh_from_db()
        assert credit_position(cust).withdrawable == Decimal("50")

    def test_refuses_bad_input(self):
        cust = customer()
        payment_top_up(payment=payment(cust, "100"), amount="100", actor=SYSTEM)
        before = _state(cust)
        for amount, message in (("0", "more than zero"), ("-5", "more than zero"), ("1.0000001", "6 decimal")):
            with pytest.raises(WithdrawalError, match=message):
                withdrawal_record(customer=cust, amount=amount, method="cash", actor=SYSTEM)
        with pytest.raises(WithdrawalError, match="in SGD, not USD"):
            withdrawal_record(customer=cust, amount="1", currency="USD", method="cash", actor=SYSTEM)
        with pytest.raises(WithdrawalError, match="Unknown method"):
            withdrawal_record(customer=cust, amount="1", method="gold", actor=SYSTEM)
        assert _state(cust) == before
