"""The staff invoice page as finance composes it (finance/payments/views.py): the invoice's payments,
allocations, credit notes and card payments in one section, the history with the allocations' events, the
ledger entries labelled so a charge and the invoice that bills it do not read as two charges, and a
constant number of queries whatever the number of records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from finance.models import PaymentMethod
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.credit_notes import credit_note_issue
from invoices.services import PurchaseLine, invoice_create_purchase, invoice_mark_sent
from tests.customers.factories import top_up
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db


def page(client, invoice):
    response = client.get(reverse("invoices:detail", args=[invoice.pk]))
    assert response.status_code == 200
    return response


def invoice_of(cust, total="250.75", tax_rate="0", kind="service"):
    invoice = invoice_create_purchase(customer_id=cust.pk, actor=SYSTEM, lines=[
        PurchaseLine(description="Onboarding service", quantity="1", unit_price=total, tax_rate=tax_rate, kind=kind)])
    return invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)


class TestMoneyApplied:
    def test_payments_allocations_credit_and_credit_notes_in_one_section(self, finance_client):
        cust = customer()
        invoice = purchase_invoice(cust, "300")
        cheque = payment(cust, "120", method=PaymentMethod.CHEQUE, reference="CHQ-881")
        transfer = payment(cust, "50", reference="TT-2")
        [first] = payment_allocate(payment=cheque, lines=[(invoice.pk, "120")], actor=SYSTEM)
        [undone] = payment_allocate(payment=transfer, lines=[(invoice.pk, "50")], actor=SYSTEM)
        allocation_reverse(allocation=undone, actor=SYSTEM, reason="Wrong invoice")
        payment_allocate(payment=transfer, lines=[(purchase_invoice(cust, "50").pk, "50")], actor=SYSTEM)
        note = credit_note_issue(customer=cust, invoice=invoice, amount=Decimal("30"), reason="Goodwill",
                                 actor=SYSTEM)
        top_up(cust, Decimal("40"))
        [credit] = invoice_pay_with_credits(invoice=invoice, amount="40", actor=SYSTEM)

        response = page(finance_client, invoice)
        money = response.context["money"]
        assert [(r.kind, r.amount, r.active, r.record.pk) for r in money.rows] == [
            ("allocation", Decimal("120"), True, first.pk), ("allocation", Decimal("50"), False, undone.pk),
            ("credit_note", Decimal("30"), True, note.pk), ("credit", Decimal("40"), True, credit.pk)]
        invoice.refresh_from_db()
        assert money.paid == invoice.amount_paid == Decimal("160")
        assert money.credited == invoice.amount_credited == Decimal("30")
        assert money.agrees
        html = response.content.decode()
        assert "{#" not in html and "{%" not in html  # no template comment or tag printed as text
        section = html[html.index('id="money-applied"'):html.index('id="invoice-ledger"')]
        for text in (f"Payment #{cheque.pk}", "CHQ-881", "Cheque", f"Payment #{transfer.pk}", "Undone",
                     "Wrong invoice", note.number, "Goodwill", f'data-money-total="paid">{invoice.amount_paid:.2f}',
                     'data-money-total="credited">30.00'):
            assert text in section, text
        assert f'action="{reverse("finance:allocation-reverse", args=[first.pk])}"' in section  # Undo, Finance only

    def test_viewers_see_the_money_without_the_undo_button(self, viewer_client):
        cust = customer()
        invoice = purchase_invoice(cust, "100")
        payment_allocate(payment=payment(cust, "100"), lines=[(invoice.pk, "100")], actor=SYSTEM)
        html = page(viewer_client, invoice).content.decode()
        assert 'data-money="allocation"' in html and "/reverse/" not in html and ">Undo<" not in html

    def test_an_invoice_with_nothing_applied_says_so_and_links_to_allocate(self, finance_client):
        invoice = purchase_invoice(customer(), "100")
        html = page(finance_client, invoice).content.decode()
        assert "Nothing applied to this invoice yet." in html
        assert reverse("finance:invoice-payment", args=[invoice.pk]) in html

    def test_the_section_shows_only_this_invoices_records(self, finance_client):
        cust = customer()
        mine, other = purchase_invoice(cust, "100"), purchase_invoice(cust, "100")
        cash = payment(cust, "200")
        payment_allocate(payment=cash, lines=[(mine.pk, "60"), (other.pk, "70")], actor=SYSTEM)
        credit_note_issue(customer=cust, invoice=other, amount=Decimal("5"), reason="Not mine", actor=SYSTEM)
        money = page(finance_client, mine).context["money"]
        assert [(r.kind, r.amount) for r in money.rows] == [("allocation", Decimal("60"))]


class TestHistory:
    def test_includes_the_allocations_to_this_invoice_and_their_undoing(self, finance_client):
        cust = customer()
        invoice, other = purchase_invoice(cust, "100"), purchase_invoice(cust, "100")
        cash = payment(cust, "200")
        [mine, _] = payment_allocate(payment=cash, lines=[(invoice.pk, "60"), (other.pk, "70")], actor=SYSTEM)
        allocation_reverse(allocation=mine, actor=SYSTEM, reason="Typo")
        payment_allocate(payment=cash, lines=[(other.pk, "30")], actor=SYSTEM)  # about the other invoice only
        note = credit_note_issue(customer=cust, invoice=invoice, amount=Decimal("10"), reason="Goodwill",
                                 actor=SYSTEM)
        response = page(finance_client, invoice)
        events = response.context["history"]
        actions = [e.action for e in events]
        assert actions == ["finance.credit_note.issue", "finance.allocation.reverse", "finance.payment.allocate",
                           "invoices.invoice.mark_sent", "invoices.invoice.create"]
        summaries = [e.summary for e in events]
        assert f"Payment #{cash.pk}: 60.00 SGD allocated to this invoice" in " ".join(summaries)
        assert f"allocation #{mine.pk} of 60.00 SGD undone" in " ".join(summaries)
        html = response.content.decode()
        assert "Typo" in html and note.number in html


class TestLedgerLabels:
    def test_a_charge_and_the_invoice_that_bills_it_read_as_one_charge(self, finance_client):
        cust = customer()
        invoice = invoice_of(cust, "250.75")
        response = page(finance_client, invoice)
        ledger = response.context["ledger"]
        assert [(line.entry.kind, line.entry.amount) for line in ledger.billed] == [("service", Decimal("-250.75"))]
        assert [(line.entry.kind, line.entry.amount) for line in ledger.posted] == [("invoice", Decimal("-250.75"))]
        assert ledger.charges_total == Decimal("-250.75") and ledger.issued.amount == Decimal("-250.75")
        html = response.content.decode()
        billed = html[html.index('id="ledger-billed"'):html.index("</table>", html.index('id="ledger-billed"'))]
        posted = html[html.index('id="ledger-posted"'):html.index("</table>", html.index('id="ledger-posted"'))]
        assert "Service: charge billed by this invoice" in billed and f"Billed by {invoice.number}" in billed
        assert "no longer in Expecting invoice" in billed and "Invoice issued" not in billed
        assert "Invoice issued: the total owed, tax included" in posted and "Amount due" in posted
        assert "Service" not in posted
        assert 'id="ledger-charged-once"' in html and "Charged once" in html

    def test_with_tax_the_issued_entry_is_the_charges_plus_the_tax(self, finance_client):
        cust = customer()
        invoice = invoice_of(cust, "100", tax_rate="9")
        ledger = page(finance_client, invoice).context["ledger"]
        assert ledger.charges_total + ledger.tax == ledger.issued.amount == Decimal("-109")

    def test_a_top_up_invoice_posts_nothing_and_says_why(self, finance_client):
        from tests.finance.factories import top_up_invoice

        invoice = top_up_invoice(customer(), "100")
        html = page(finance_client, invoice).content.decode()
        assert "a top-up invoice asks for a deposit, it is not a debt" in html


class TestQueries:
    def test_a_constant_number_of_queries_whatever_the_records(self, finance_client, django_assert_max_num_queries):
        cust = customer()
        few, many = purchase_invoice(cust, "1000"), purchase_invoice(cust, "1000")
        payment_allocate(payment=payment(cust, "10"), lines=[(few.pk, "10")], actor=SYSTEM)
        for i in range(6):
            cash = payment(cust, "10", reference=f"REF-{i}")
            [a] = payment_allocate(payment=cash, lines=[(many.pk, "10")], actor=SYSTEM)
            if i % 2:
                allocation_reverse(allocation=a, actor=SYSTEM, reason="again")
            credit_note_issue(customer=cust, invoice=many, amount=Decimal("1"), reason=f"n{i}", actor=SYSTEM)
        with django_assert_max_num_queries(40) as one:
            page(finance_client, few)
        with django_assert_max_num_queries(len(one.captured_queries)):
            response = page(finance_client, many)
        assert len(response.context["money"].rows) == 12


class TestHistoryOfSeveralInvoicesPaidTogether:
    def test_the_portals_pay_selected_with_credits_is_in_each_invoices_history(self, finance_client):
        from finance.services.cards import invoices_self_pay_with_credits

        cust = customer()
        first, second = purchase_invoice(cust, "30"), purchase_invoice(cust, "20")
        top_up(cust, Decimal("100"))
        invoices_self_pay_with_credits(invoice_ids=[first.pk, second.pk], customer_id=cust.pk, actor=SYSTEM)
        for invoice, amount in ((first, "30.00"), (second, "20.00")):
            events = page(finance_client, invoice).context["history"]
            [event] = [e for e in events if e.action == "finance.invoices.pay_with_credits"]
            assert event.summary == (f"Paid with the customer's credits, with other invoices: {amount} SGD for "
                                     "this one")


class TestCardPayments:
    def test_a_card_payment_for_the_invoice_is_listed_and_its_credit_counted_once(self, finance_client,
                                                                                  fake_stripe):
        from finance.services.cards import card_payment_fulfil
        from tests.stripe.helpers import CUSTOMER, pay, start

        cust = customer()
        invoice = purchase_invoice(cust, "60")
        card_payment = start(cust, "60", invoice_id=invoice.pk)
        pay(fake_stripe, card_payment)
        card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        response = page(finance_client, invoice)
        money = response.context["money"]
        card = [r for r in money.rows if r.kind == "card_payment"]
        assert [(r.record.pk, r.amount, r.counted) for r in card] == [(card_payment.pk, Decimal("60"), False)]
        assert card[0].state == "Paid; 60.00 of it paid this invoice (allocation listed)"
        invoice.refresh_from_db()
        assert invoice.amount_paid == money.paid == Decimal("60") and money.agrees  # the card's 60 not added again
        html = response.content.decode()
        assert f"Card payment #{card_payment.pk} (Visa ending 4242)" in html
        assert "finance.card_payment.fulfil" in [e.action for e in response.context["history"]]
