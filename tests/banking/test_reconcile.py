"""Suggestions, one matching rule at a time, and confirming, ignoring and undoing them through finance's rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from banking.models import LineState, StatementLine, SuggestionKind
from banking.services.imports import statement_import
from banking.services.reconcile import (
    ReconcileError,
    statement_line_choose_customer,
    statement_line_confirm,
    statement_line_ignore,
    statement_line_undo,
    statement_lines_confirm_high,
)
from finance.checks import finance_mismatches
from finance.models import Allocation, Payment, PaymentMethod
from finance.services.top_ups import payment_top_up
from finance.services.withdrawals import withdrawal_record
from tests.banking.factories import bank_account, camt053
from tests.customers.factories import SYSTEM
from tests.finance.factories import customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def imported(*entries) -> list[StatementLine]:
    account = bank_account()
    for e in entries:
        e.setdefault("date", TODAY.isoformat())
    statement = statement_import(account_id=account.pk, file_name="s.xml", content=camt053(list(entries)),
                                 actor=SYSTEM, at=timezone.now())
    return list(statement.lines.order_by("position"))


def best(line: StatementLine):
    return line.suggestions.order_by("rank").first()


class TestSuggestions:
    def test_invoice_numbers_in_the_remittance_with_their_open_amounts(self):
        acme = customer(name="Acme Trading Pte Ltd")
        first, second = purchase_invoice(acme, "100"), purchase_invoice(acme, "50.25")
        (line,) = imported({"amount": "150.25", "text": f"Payment {first.number}, {second.number.lower()}"})
        s = best(line)
        assert line.state == LineState.SUGGESTED and s.kind == SuggestionKind.ALLOCATE and s.score >= 90
        assert s.customer == acme
        assert [(a["number"], Decimal(a["amount"])) for a in s.allocations] == [
            (first.number, Decimal("100")), (second.number, Decimal("50.25"))]
        assert f"{first.number} is in the remittance text, open 100.00 SGD" in s.reasons

    def test_a_partial_payment_of_a_named_invoice_is_less_sure(self):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "40.00", "text": invoice.number})
        s = best(line)
        assert s.score < 90 and [(a["invoice"], Decimal(a["amount"])) for a in s.allocations] == [(invoice.pk, Decimal("40"))]

    def test_the_customer_code_and_the_exact_open_amount_of_one_invoice(self):
        delta = customer(code="DELTA", name="Delta Mobile")
        purchase_invoice(delta, "80")
        invoice = purchase_invoice(delta, "120")
        (line,) = imported({"amount": "120.00", "text": "DELTA november"})
        s = best(line)
        assert s.customer == delta and s.score >= 90 and s.allocations[0]["invoice"] == invoice.pk
        assert "the customer code DELTA is in the remittance text" in s.reasons

    def test_the_payer_name_close_to_a_customer_name(self):
        gamma = customer(name="Gamma Networks Pte. Ltd.")
        invoice = purchase_invoice(gamma, "75.25")
        (line,) = imported({"amount": "75.25", "name": "GAMMA NETWORKS", "text": "November"})
        s = best(line)
        assert s.customer == gamma and s.allocations[0]["invoice"] == invoice.pk
        assert any("is close to the customer" in r for r in s.reasons)

    def test_the_payer_name_matches_the_same_in_a_large_import_and_for_one_line_again(self):
        # An import of many unnamed payers compares with every customer's name; one line suggested again loads only
        # the customers sharing a word prefix (the customer search's index): the same match, accents included.
        from banking.services.reconcile import statement_line_suggest

        societe = customer(name="Société Générale Trading SA")
        customer(name="Générale Logistics")
        customer(name="Trading Partners")
        entries = [{"amount": f"{n + 1}.00", "name": f"UNKNOWN PAYER {n}", "text": "x", "e2e": f"U{n}"}
                   for n in range(60)]
        lines = imported({"amount": "99.00", "name": "SOCIÉTÉ GÉNÉRALE", "text": "Nov", "e2e": "S1"}, *entries)
        first = best(lines[0])
        assert first.customer == societe and "is close to the customer" in first.reasons[0]
        statement_line_suggest(line_id=lines[0].pk, actor=SYSTEM, at=timezone.now())
        again = best(lines[0])
        assert (again.customer_id, again.score, again.kind, again.reasons) == \
               (first.customer_id, first.score, first.kind, first.reasons)
        assert not lines[5].suggestions.exists()

    def test_a_payer_nobody_knows_gets_no_suggestion(self):
        customer(name="Gamma Networks")
        (line,) = imported({"amount": "10.00", "name": "Wayne Enterprises", "text": "hello"})
        assert line.state == LineState.NEW and not line.suggestions.exists()

    def test_a_payment_already_recorded_is_linked_never_recorded_twice(self):
        acme = customer()
        recorded = payment(acme, "300", received_date=TODAY - dt.timedelta(days=2), reference="ACME-77")
        (line,) = imported({"amount": "300.00", "e2e": "ACME-77", "name": "ACME"})
        s = best(line)
        assert s.kind == SuggestionKind.LINK_PAYMENT and s.payment == recorded and s.score >= 90
        statement_line_confirm(line_id=line.pk, suggestion_id=s.pk, actor=SYSTEM, at=timezone.now())
        line.refresh_from_db()
        assert line.payment == recorded and not line.payment_created and Payment.objects.count() == 1

    def test_a_recorded_payment_outside_the_date_window_is_not_offered(self):
        acme = customer()
        payment(acme, "300", received_date=TODAY - dt.timedelta(days=30), reference="ACME-77")
        (line,) = imported({"amount": "300.00", "e2e": "ACME-77"})
        assert not line.suggestions.filter(kind=SuggestionKind.LINK_PAYMENT).exists()

    def test_money_out_is_offered_against_a_recorded_withdrawal_which_becomes_cleared(self):
        beta = customer(name="Beta Telecom")
        payment_top_up(payment=payment(beta, "100"), amount="100", actor=SYSTEM)
        w = withdrawal_record(customer=beta, amount="40", method="bank_transfer", reference="WD-42", actor=SYSTEM,
                              paid_date=TODAY - dt.timedelta(days=1))
        (line,) = imported({"amount": "40.00", "sign": "DBIT", "e2e": "WD-42", "name": "Beta Telecom"})
        s = best(line)
        assert s.kind == SuggestionKind.CLEAR_WITHDRAWAL and s.withdrawal == w and s.score >= 90
        statement_line_confirm(line_id=line.pk, suggestion_id=s.pk, actor=SYSTEM, at=timezone.now())
        w.refresh_from_db()
        assert w.statement_line.pk == line.pk


class TestConfirm:
    def test_records_assigns_and_allocates_in_one_transaction_and_one_event(self):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": invoice.number, "e2e": "E2E-1"})
        events = AuditEvent.objects.count()
        statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now())
        line.refresh_from_db()
        invoice.refresh_from_db()
        paid = line.payment
        assert line.state == LineState.RECONCILED and line.payment_created
        assert (paid.customer, paid.amount, paid.amount_allocated, paid.method, paid.reference) == (
            acme, Decimal("100"), Decimal("100"), PaymentMethod.BANK_TRANSFER, "E2E-1")
        assert paid.received_date == line.booking_date and invoice.status == "paid"
        assert AuditEvent.objects.count() == events + 1
        event = AuditEvent.objects.latest("id")
        assert (event.action, event.object_type, event.object_id) == ("banking.line.confirm", "finance.payment",
                                                                      str(paid.pk))
        assert finance_mismatches() == []

    def test_the_allocation_edited_before_confirming(self):
        acme = customer()
        first, second = purchase_invoice(acme, "100"), purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": first.number})
        statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now(),
                               allocations=[(first.pk, Decimal("60")), (second.pk, Decimal("40"))])
        assert sorted(Allocation.objects.values_list("amount", flat=True)) == [Decimal("40"), Decimal("60")]

    def test_a_refusal_of_finance_changes_nothing(self):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": invoice.number})
        with pytest.raises(ReconcileError, match="would overpay it"):
            statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now(),
                                   allocations=[(invoice.pk, Decimal("150"))])
        line.refresh_from_db()
        assert line.state == LineState.SUGGESTED and not Payment.objects.exists()

    def test_a_line_reconciled_cannot_be_confirmed_again(self):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": invoice.number})
        statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now())
        with pytest.raises(ReconcileError, match="reconciled already"):
            statement_line_confirm(line_id=line.pk, suggestion_id=line.suggestions.get().pk, actor=SYSTEM,
                                   at=timezone.now())
        assert Payment.objects.count() == 1

    def test_confirm_all_high_confidence_leaves_the_others(self):
        acme = customer(code="ACME")
        one, two = purchase_invoice(acme, "10"), purchase_invoice(acme, "20")
        lines = imported({"amount": "10.00", "text": one.number}, {"amount": "20.00", "text": two.number},
                         {"amount": "5.00", "text": "ACME"}, {"amount": "7.00", "text": "nobody"})
        confirmed, refused = statement_lines_confirm_high(line_ids=[line.pk for line in lines], actor=SYSTEM,
                                                          at=timezone.now())
        assert (confirmed, refused) == (2, [])
        states = dict(StatementLine.objects.values_list("pk", "state"))
        assert [states[line.pk] for line in lines] == ["reconciled", "reconciled", "suggested", "new"]


class TestChooseCustomer:
    """A line with no suggestion (or not the right one): staff name the customer, then confirm as usual."""

    def test_a_customer_with_one_open_invoice_of_the_amount_is_offered_to_allocate_then_confirmed(self):
        gamma = customer(name="Gamma Networks", code="GAMMA")
        invoice = purchase_invoice(gamma, "10")
        (line,) = imported({"amount": "10.00", "name": "Wayne Enterprises", "text": "hello"})
        assert line.state == LineState.NEW and not line.suggestions.exists()
        suggestion = statement_line_choose_customer(line_id=line.pk, customer_id=gamma.pk, actor=SYSTEM,
                                                    at=timezone.now())
        assert suggestion.kind == SuggestionKind.ALLOCATE and suggestion.rank == 1
        (allocation,) = suggestion.allocations
        assert allocation["invoice"] == invoice.pk and Decimal(allocation["amount"]) == Decimal("10")
        assert "Gamma Networks (GAMMA) chosen by" in suggestion.reasons[0]
        line.refresh_from_db()
        assert line.state == LineState.SUGGESTED and line.best_score == suggestion.score
        event = AuditEvent.objects.get(action="banking.line.choose_customer")
        assert event.customer_id == gamma.pk and event.after["suggestion"] == suggestion.pk
        statement_line_confirm(line_id=line.pk, suggestion_id=suggestion.pk, actor=SYSTEM, at=timezone.now())
        line.refresh_from_db()
        invoice.refresh_from_db()
        assert line.state == LineState.RECONCILED and line.payment.customer_id == gamma.pk
        assert invoice.amount_paid == Decimal("10")

    def test_otherwise_the_payment_is_recorded_for_the_customer_and_ranked_after_the_others(self):
        gamma = customer(name="Gamma Networks", code="GAMMA")
        acme = customer(name="Acme Trading", code="ACME")
        (line,) = imported({"amount": "25.00", "name": "x", "text": "ACME"})
        assert best(line).customer_id == acme.pk
        suggestion = statement_line_choose_customer(line_id=line.pk, customer_id=gamma.pk, actor=SYSTEM,
                                                    at=timezone.now())
        assert suggestion.kind == SuggestionKind.ASSIGN and suggestion.rank == 2
        again = statement_line_choose_customer(line_id=line.pk, customer_id=gamma.pk, actor=SYSTEM, at=timezone.now())
        assert again.pk == suggestion.pk and line.suggestions.count() == 2

    def test_refused_for_another_currency_money_out_or_a_line_reconciled(self):
        usd = customer(name="Dollar Co", code="USDCO", currency="USD")
        gamma = customer(name="Gamma Networks", code="GAMMA")
        credit, debit = imported({"amount": "10.00", "text": "x"}, {"amount": "3.00", "sign": "DBIT", "text": "fee"})
        with pytest.raises(ReconcileError, match="Dollar Co \\(USDCO\\) is billed in USD; the line is in SGD"):
            statement_line_choose_customer(line_id=credit.pk, customer_id=usd.pk, actor=SYSTEM, at=timezone.now())
        with pytest.raises(ReconcileError, match="Money paid out is not a payment received"):
            statement_line_choose_customer(line_id=debit.pk, customer_id=gamma.pk, actor=SYSTEM, at=timezone.now())
        statement_line_ignore(line_id=credit.pk, reason="internal", actor=SYSTEM, at=timezone.now())
        with pytest.raises(ReconcileError, match="is ignored"):
            statement_line_choose_customer(line_id=credit.pk, customer_id=gamma.pk, actor=SYSTEM, at=timezone.now())
        assert not AuditEvent.objects.filter(action="banking.line.choose_customer").exists()


class TestIgnoreAndUndo:
    def test_ignore_needs_a_reason_and_undo_brings_the_line_back(self):
        (line,) = imported({"amount": "12.50", "sign": "DBIT", "text": "Account fee"})
        with pytest.raises(ReconcileError, match="Say why"):
            statement_line_ignore(line_id=line.pk, reason=" ", actor=SYSTEM, at=timezone.now())
        statement_line_ignore(line_id=line.pk, reason="Bank fee", actor=SYSTEM, at=timezone.now())
        line.refresh_from_db()
        assert (line.state, line.ignored_reason) == (LineState.IGNORED, "Bank fee")
        statement_line_undo(line_id=line.pk, reason="", actor=SYSTEM, at=timezone.now())
        line.refresh_from_db()
        assert line.state == LineState.NEW and line.ignored_reason == ""

    def test_undo_reverses_the_allocations_and_deletes_the_payment_recorded_from_the_line(self):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": invoice.number})
        statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now())
        paid = StatementLine.objects.get(pk=line.pk).payment
        events = AuditEvent.objects.count()
        statement_line_undo(line_id=line.pk, reason="Wrong customer", actor=SYSTEM, at=timezone.now())
        line.refresh_from_db()
        paid.refresh_from_db()
        invoice.refresh_from_db()
        assert line.state == LineState.SUGGESTED and line.payment is None and line.suggestions.exists()
        assert paid.deleted_at is not None and paid.amount_allocated == 0 and invoice.status == "sent"
        assert AuditEvent.objects.count() == events + 1
        assert AuditEvent.objects.latest("id").action == "banking.line.undo"
        acme.refresh_from_db()
        assert acme.amount_due == Decimal("-100") and finance_mismatches() == []

    def test_undo_locks_in_finances_order_customer_invoices_then_payment(self):
        # Two allocations: reversing them one by one locked the second invoice after the payment (payment ->
        # invoice, against finance's customer -> invoices by pk -> payment, docs/CONVENTIONS.md).
        import re

        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        acme = customer()
        first, second = purchase_invoice(acme, "100"), purchase_invoice(acme, "50")
        (line,) = imported({"amount": "150.00", "text": f"{first.number} {second.number}"})
        statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now())
        paid_id = StatementLine.objects.get(pk=line.pk).payment_id
        assert Allocation.objects.filter(payment_id=paid_id).count() == 2
        with CaptureQueriesContext(connection) as queries:
            statement_line_undo(line_id=line.pk, reason="Wrong customer", actor=SYSTEM, at=timezone.now())
        # Each row's first lock, in order (finance's helpers lock a row again when they hold it already).
        firsts = []
        for q in queries.captured_queries:
            if "FOR NO KEY UPDATE" not in q["sql"] and "FOR UPDATE" not in q["sql"]:
                continue
            table = re.search(r'FROM "(\w+)"', q["sql"]).group(1)
            if table not in ("customers_customer", "invoices_invoice", "finance_payment"):
                continue
            where = q["sql"].split("WHERE", 1)[1].split("ORDER BY")[0].split("FOR ")[0]
            for pk in map(int, re.findall(r'"id"\s*(?:=|IN \()\s*([\d, ]+)', where)[0].split(",")):
                if (table, pk) not in firsts:
                    firsts.append((table, pk))
        assert firsts == [("customers_customer", acme.pk), ("invoices_invoice", first.pk),
                          ("invoices_invoice", second.pk), ("finance_payment", paid_id)], firsts
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.amount_paid == second.amount_paid == 0

    def test_undo_of_a_link_keeps_the_payment(self):
        acme = customer()
        recorded = payment(acme, "300", reference="R-1")
        (line,) = imported({"amount": "300.00", "e2e": "R-1"})
        statement_line_confirm(line_id=line.pk, suggestion_id=best(line).pk, actor=SYSTEM, at=timezone.now())
        statement_line_undo(line_id=line.pk, reason="", actor=SYSTEM, at=timezone.now())
        recorded.refresh_from_db()
        assert recorded.deleted_at is None and StatementLine.objects.get(pk=line.pk).state == LineState.SUGGESTED
