"""An invoice settled by credit notes and no payment says credited: "Partially credited" (not "Partially paid"
with 0.00 paid) and "Credited" when cancelled in full. The stored status, which every open-invoice rule reads,
is unchanged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finance.services.allocation import payment_allocate
from finance.services.credit_notes import credit_note_issue
from invoices.models import InvoiceStatus
from invoices.services import invoice_void
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, refreshed, top_up_invoice

pytestmark = pytest.mark.django_db


def _credit(invoice, amount):
    credit_note_issue(customer=invoice.customer, invoice=invoice, amount=amount, reason="Goodwill", actor=SYSTEM)
    (invoice,) = refreshed(invoice)
    return invoice


class TestStatusLabel:
    def test_a_credit_note_on_an_unpaid_invoice_says_partially_credited(self):
        invoice = _credit(purchase_invoice(customer(), "100"), "40")
        assert invoice.status == InvoiceStatus.PARTIALLY_PAID  # still open: the rules read the stored status
        assert invoice.status_label == "Partially credited"

    def test_credited_in_full_says_credited(self):
        invoice = _credit(purchase_invoice(customer(), "100"), "100")
        assert invoice.status == InvoiceStatus.VOID and invoice.status_label == "Credited"

    def test_a_payment_and_a_credit_note_say_partially_paid(self):
        cust = customer()
        invoice = purchase_invoice(cust, "100")
        payment_allocate(payment=payment(cust, "30"), lines=[(invoice.pk, "30")], actor=SYSTEM)
        assert _credit(invoice, "20").status_label == "Partially paid"

    def test_the_other_statuses_keep_their_words(self):
        cust = customer()
        draft = top_up_invoice(cust, "10", sent=False)
        sent = purchase_invoice(cust, "10")
        voided = invoice_void(invoice_id=top_up_invoice(cust, "10").pk, reason="Not needed", actor=SYSTEM)
        assert [draft.status_label, sent.status_label, voided.status_label] == ["Draft", "Awaiting payment", "Void"]


class TestPages:
    def test_the_invoice_page_and_list_say_partially_credited(self, finance_client):
        invoice = _credit(purchase_invoice(customer(), "100"), "40")
        page = finance_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
        assert "Partially credited" in page and "Partially paid" not in page
        listing = finance_client.get(reverse("invoices:list")).content.decode()
        assert "Partially credited" in listing and "Partially paid</span>" not in listing
        csv_export = finance_client.get(reverse("invoices:list"), {"format": "csv"})
        assert "Partially credited" in b"".join(csv_export.streaming_content if csv_export.streaming
                                               else [csv_export.content]).decode()

    def test_the_credit_note_page_says_credited(self, finance_client):
        invoice = purchase_invoice(customer(), "100")
        note = credit_note_issue(customer=invoice.customer, invoice=invoice, amount="100", reason="Cancelled",
                                 actor=SYSTEM)
        page = finance_client.get(reverse("finance:credit-note-detail", args=[note.pk])).content.decode()
        assert ">Credited</span>" in page

    def test_the_status_filter_finds_it_and_says_so(self, finance_client):
        invoice = _credit(purchase_invoice(customer(), "100"), "40")
        listing = finance_client.get(reverse("invoices:list"), {"status": "partially_paid"})
        assert [i.pk for i in listing.context["page"].object_list] == [invoice.pk]
        assert "Partially paid or credited" in listing.content.decode()
