"""The finance pages: permissions, lists (search, filters, pagination, CSV, constant queries), forms that show
the services' refusals on the page and change nothing, and the HTMX fragments."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from common.lists import csv_text
from finance.models import Allocation, CreditNote, Payment, PaymentStatus, TopUp, Withdrawal
from finance.services.allocation import payment_allocate
from finance.services.payments import payment_assign, payment_unassign
from finance.services.top_ups import payment_top_up
from finance.urls import urlpatterns
from invoices.models import InvoiceStatus
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


class TestPermissions:
    def test_every_view_is_staff_only_with_a_permission(self):
        for pattern in urlpatterns:
            perms = getattr(pattern.callback, "staff_perms", None)
            assert perms, f"{pattern.name} is not wrapped in staff_view(perm)"

    def test_viewer_sees_but_cannot_act(self, viewer_client):
        pay = payment(None, "10")
        assert viewer_client.get(reverse("finance:payment-list")).status_code == 200
        assert viewer_client.get(reverse("finance:payment-detail", args=[pay.pk])).status_code == 200
        assert viewer_client.get(reverse("finance:payment-create")).status_code == 403
        response = viewer_client.post(reverse("finance:payment-delete", args=[pay.pk]))
        assert response.status_code == 403
        pay.refresh_from_db()
        assert pay.deleted_at is None

    def test_anonymous_is_sent_to_sign_in(self, client):
        response = client.get(reverse("finance:payment-list"))
        assert response.status_code == 302 and "/login/" in response["Location"]


class TestPaymentList:
    def test_search_filters_and_csv(self, finance_client):
        acme, other = customer(name="Acme Pte Ltd"), customer(name="Globex")
        p1 = payment(acme, "10", reference="TT-ALPHA", method="cheque", received_date=TODAY - dt.timedelta(days=10))
        p2 = payment(None, "20", reference="TT-BETA", invoice_number="INV-77")
        p3 = payment(other, "30", reference="CASH-1", method="cash")
        inv = purchase_invoice(other, "30")
        payment_allocate(payment=p3, lines=[(inv.pk, "30")], actor=SYSTEM)
        url = reverse("finance:payment-list")

        def ids(query):
            response = finance_client.get(url, query)
            return {p.pk for p in response.context["page"].object_list}

        assert ids({}) == {p1.pk, p2.pk, p3.pk}
        assert ids({"q": "alpha"}) == {p1.pk}
        assert ids({"q": "INV-77"}) == {p2.pk}
        assert ids({"q": "acme"}) == {p1.pk}
        assert ids({"q": f"#{p3.pk}"}) == {p3.pk}
        assert ids({"customer": acme.pk}) == {p1.pk}
        assert ids({"method": "cash"}) == {p3.pk}
        assert ids({"status": PaymentStatus.UNASSIGNED}) == {p2.pk}
        assert ids({"status": PaymentStatus.ALLOCATED}) == {p3.pk}
        assert ids({"status": PaymentStatus.UNALLOCATED}) == {p1.pk}
        assert ids({"received_from": TODAY - dt.timedelta(days=11), "received_to": TODAY - dt.timedelta(days=9)}) == {p1.pk}
        rows = _csv(finance_client.get(url, {"status": "unassigned", "format": "csv"}))
        assert rows[0][0] == "id" and [r[0] for r in rows[1:]] == [str(p2.pk)]
        assert rows[1][rows[0].index("amount")] == "20.000000"

    def test_each_row_shows_its_payment_escaped_with_its_link(self, finance_client):
        acme = customer(name="Acme <i>&</i> Co", code="ACME9")
        assigned = payment(acme, "1234.5", reference='TT "<1>"', invoice_number="INV-<2>", method="cheque",
                           received_date=TODAY - dt.timedelta(days=3))
        unassigned = payment(None, "20", currency="SGD")
        page = finance_client.get(reverse("finance:payment-list")).content.decode()

        def row(p):
            start = page.index(f'<tr data-payment-id="{p.pk}">')
            return page[start:page.index("</tr>", start)]

        detail = reverse("finance:payment-detail", args=[assigned.pk])
        assert (f"<td>{assigned.pk}</td><td>{(TODAY - dt.timedelta(days=3)).isoformat()}</td>"
                '<td>Acme &lt;i&gt;&amp;&lt;/i&gt; Co <small class="muted">ACME9</small></td><td>Cheque</td>'
                "<td>TT &quot;&lt;1&gt;&quot;</td><td>INV-&lt;2&gt;</td>"
                '<td class="num">1,234.50 SGD</td><td class="num">1,234.50</td>'
                '<td><span class="badge badge-unallocated">Unallocated</span></td>') in row(assigned)
        assert f'href="{detail}" title="View payment #{assigned.pk}"' in row(assigned) and "<i>" not in page
        assert '<td><span class="muted">Unassigned</span></td>' in row(unassigned)
        assert "<td>—</td><td>—</td>" in row(unassigned)

    def test_htmx_returns_the_table_fragment(self, finance_client):
        payment(None, "10")
        response = finance_client.get(reverse("finance:payment-list"), HTTP_HX_REQUEST="true",
                                      HTTP_HX_TARGET="payment-table")
        body = response.content.decode()
        assert 'id="payment-table"' in body and "<html" not in body

    def test_constant_number_of_queries_and_pagination(self, finance_client, django_assert_max_num_queries):
        custs = [customer() for _ in range(4)]
        for n in range(60):
            payment(custs[n % 4] if n % 3 else None, f"{n + 1}.25")
        with django_assert_max_num_queries(12):
            response = finance_client.get(reverse("finance:payment-list"))
        assert len(response.context["page"].object_list) == 25
        assert response.context["page"].paginator.count == 60
        with django_assert_max_num_queries(12):
            finance_client.get(reverse("finance:payment-list"), {"page": 3})

    def test_deleted_payments_only_on_request(self, finance_client):
        pay = payment(None, "10")
        finance_client.post(reverse("finance:payment-delete", args=[pay.pk]))
        assert not finance_client.get(reverse("finance:payment-list")).context["page"].object_list
        assert finance_client.get(reverse("finance:payment-list"), {"status": "deleted"}).context["page"].object_list


class TestPaymentForms:
    def test_record_a_payment(self, finance_client):
        cust = customer()
        response = finance_client.post(reverse("finance:payment-create"), {
            "customer": cust.pk, "amount": "1,250.50", "currency": "", "received_date": TODAY.isoformat(),
            "method": "telegraphic_transfer", "reference": "TT-9", "invoice_number": "INV-1", "remark": "hello"})
        pay = Payment.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("finance:payment-detail", args=[pay.pk])
        assert pay.amount == Decimal("1250.50") and pay.customer == cust and pay.currency == cust.currency

    @pytest.mark.parametrize("amount, message", [("-5", "more than zero"), ("0", "more than zero"),
                                                 ("1.1234567", "at most 6 decimal places")])
    def test_bad_amounts_are_shown_on_the_page(self, finance_client, amount, message):
        response = finance_client.post(reverse("finance:payment-create"), {
            "amount": amount, "received_date": TODAY.isoformat(), "method": "cash"})
        assert response.status_code == 200 and message in response.content.decode()
        assert not Payment.objects.exists()

    def test_a_service_refusal_is_shown_on_the_page(self, finance_client):
        cust = customer(currency="SGD")
        response = finance_client.post(reverse("finance:payment-create"), {
            "customer": cust.pk, "amount": "5", "currency": "USD", "received_date": TODAY.isoformat(),
            "method": "cash"})
        assert response.status_code == 200 and "pays in SGD" in response.content.decode()
        assert not Payment.objects.exists() and not AuditEvent.objects.filter(app="finance").exists()

    def test_edit_never_below_allocated(self, finance_client):
        cust = customer()
        pay = payment(cust, "100")
        inv = purchase_invoice(cust, "80")
        payment_allocate(payment=pay, lines=[(inv.pk, "80")], actor=SYSTEM)
        url = reverse("finance:payment-edit", args=[pay.pk])
        assert finance_client.get(url).status_code == 200
        data = {"amount": "50", "currency": "SGD", "received_date": pay.received_date.isoformat(),
                "method": pay.method}
        response = finance_client.post(url, data)
        assert response.status_code == 200 and "cannot go below the 80.00" in response.content.decode()
        response = finance_client.post(url, {**data, "amount": "85", "reference": "fixed"})
        assert response.status_code == 302
        pay.refresh_from_db()
        assert pay.amount == Decimal("85") and pay.reference == "fixed"

    def test_delete_refused_with_allocations_then_allowed(self, finance_client):
        cust = customer()
        pay = payment(cust, "10")
        topped = payment_top_up(payment=pay, amount="5", actor=SYSTEM)
        url = reverse("finance:payment-delete", args=[pay.pk])
        response = finance_client.post(url, follow=True)
        assert "undo those first" in response.content.decode()
        finance_client.post(reverse("finance:top-up-remove", args=[topped.pk]))
        response = finance_client.post(url)
        assert response.status_code == 302
        pay.refresh_from_db()
        assert pay.deleted_at is not None


class TestPaymentPage:
    def test_shows_allocations_top_ups_history_and_changes_left(self, finance_client):
        cust = customer()
        pay = payment(cust, "300")
        inv, top = purchase_invoice(cust, "50"), top_up_invoice(cust, "100")
        payment_allocate(payment=pay, lines=[(inv.pk, "50"), (top.pk, "100")], actor=SYSTEM)
        payment_top_up(payment=pay, amount="25", actor=SYSTEM)
        body = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
        assert inv.number in body and top.number in body and "Remove top-up" in body
        assert "Top-up payment" in body and "4 of 5 assignment changes left" in body
        assert "finance.payment.allocate" in body and "finance.payment.top_up" in body

    def test_assign_through_htmx_and_the_sixth_change_refused_on_the_page(self, finance_client):
        a, b = customer(), customer()
        pay = payment(None, "10")
        url = reverse("finance:payment-assign", args=[pay.pk])
        fragment = finance_client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert 'id="assign-form"' in fragment and "5 of 5 assignment changes left" in fragment
        response = finance_client.post(url, {"customer": a.pk}, HTTP_HX_REQUEST="true")
        assert response.status_code == 204 and response["HX-Redirect"] == reverse("finance:payment-detail",
                                                                                 args=[pay.pk])
        payment_unassign(payment=pay, actor=SYSTEM)
        payment_assign(payment=pay, customer=b, actor=SYSTEM)
        payment_unassign(payment=pay, actor=SYSTEM)
        finance_client.post(url, {"customer": a.pk})
        pay.refresh_from_db()
        assert pay.assignment_changes == 5
        response = finance_client.post(reverse("finance:payment-unassign", args=[pay.pk]), follow=True)
        assert "used all 5 assignment changes" in response.content.decode()
        pay.refresh_from_db()
        assert pay.customer == a

    def test_top_up_form_errors_stay_on_the_page(self, finance_client):
        pay = payment(customer(), "10")
        response = finance_client.post(reverse("finance:payment-top-up", args=[pay.pk]), {"amount": "11"})
        assert response.status_code == 200 and "has only 10.00 unallocated" in response.content.decode()
        assert not TopUp.objects.exists()

    def test_undo_an_allocation(self, finance_client):
        cust = customer()
        pay = payment(cust, "10")
        inv = purchase_invoice(cust, "10")
        (row,) = payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
        response = finance_client.post(reverse("finance:allocation-reverse", args=[row.pk]), {"reason": "oops"})
        assert response.status_code == 302
        row.refresh_from_db()
        assert row.reversed_at is not None and row.reversal_reason == "oops"


class TestAllocatePage:
    def test_search_preview_and_assign_and_allocate(self, finance_client):
        cust = customer(name="Northwind")
        a, b = purchase_invoice(cust, "40"), purchase_invoice(cust, "90")
        purchase_invoice(customer(name="Elsewhere"), "10")
        pay = payment(None, "100")
        url = reverse("finance:payment-allocate", args=[pay.pk])
        page = finance_client.get(url, {"q": "northwind"})
        rows = page.context["rows"]
        assert {r["invoice"].pk for r in rows} == {a.pk, b.pk}
        assert {r["invoice"].pk: r["amount"] for r in rows} == {a.pk: Decimal("40"), b.pk: Decimal("90")}
        assert finance_client.get(url, {"q": b.number}).context["rows"][0]["invoice"] == b
        preview = finance_client.get(reverse("finance:payment-allocate-preview", args=[pay.pk]),
                                     {"invoice": [a.pk, b.pk], f"amount-{a.pk}": "40", f"amount-{b.pk}": "60"})
        body = preview.content.decode()
        assert "Paid" in body and "Partially paid" in body and "will be assigned to Northwind" in body
        assert Allocation.objects.count() == 0 and Payment.objects.get().customer is None
        response = finance_client.post(url, {"invoice": [a.pk, b.pk], f"amount-{a.pk}": "40", f"amount-{b.pk}": "60"})
        assert response.status_code == 302
        a.refresh_from_db(), b.refresh_from_db(), pay.refresh_from_db()
        assert a.status == InvoiceStatus.PAID and b.status == InvoiceStatus.PARTIALLY_PAID
        assert pay.customer == cust and pay.status == PaymentStatus.ALLOCATED

    def test_refusal_is_shown_and_nothing_changes(self, finance_client):
        cust = customer()
        inv = purchase_invoice(cust, "40")
        pay = payment(cust, "100")
        response = finance_client.post(reverse("finance:payment-allocate", args=[pay.pk]),
                                       {"invoice": [inv.pk], f"amount-{inv.pk}": "45"})
        assert response.status_code == 200 and "has only 40.00 outstanding" in response.content.decode()
        assert not Allocation.objects.exists()

    def test_invoice_page_payment_provisions_a_top_up(self, finance_client):
        cust = customer()
        top = top_up_invoice(cust, "100")
        pay = payment(cust, "150")
        url = reverse("finance:invoice-payment", args=[top.pk])
        page = finance_client.get(url)
        assert [r["payment"].pk for r in page.context["rows"]] == [pay.pk]
        response = finance_client.post(url, {"payment": pay.pk, "amount": "100"})
        assert response.status_code == 302
        top.refresh_from_db()
        assert top.status == InvoiceStatus.PAID and top.provisioned_at is not None

    def test_invoice_page_refuses_an_unsent_top_up(self, finance_client):
        cust = customer()
        top = top_up_invoice(cust, "100", sent=False)
        pay = payment(cust, "150")
        response = finance_client.post(reverse("finance:invoice-payment", args=[top.pk]),
                                       {"payment": pay.pk, "amount": "100"})
        assert "has not been sent" in response.content.decode() and not Allocation.objects.exists()

    def test_a_draft_top_up_shows_its_amount_due(self, finance_client):
        top = top_up_invoice(customer(), "100", sent=False)
        page = finance_client.get(reverse("finance:invoice-payment", args=[top.pk]))
        assert page.context["amount_due"] == Decimal("100")
        assert '<div class="value" id="invoice-outstanding">100.00</div>' in page.content.decode()

    def test_a_top_up_lists_only_payments_that_pay_it_in_full(self, finance_client):
        cust = customer()
        top = top_up_invoice(cust, "100")
        exact, small, unassigned_small = payment(cust, "100"), payment(cust, "99.99"), payment(None, "50")
        big = payment(None, "150")
        partly_used = payment(cust, "120")
        payment_top_up(payment=partly_used, amount="30", actor=SYSTEM)  # 90 left
        page = finance_client.get(reverse("finance:invoice-payment", args=[top.pk]))
        listed = {r["payment"].pk for r in page.context["rows"]}
        assert listed == {exact.pk, big.pk}
        assert not listed & {small.pk, unassigned_small.pk, partly_used.pk}

    def test_a_purchase_invoice_still_lists_payments_that_pay_part_of_it(self, finance_client):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        small = payment(cust, "40")
        page = finance_client.get(reverse("finance:invoice-payment", args=[inv.pk]))
        assert [r["payment"].pk for r in page.context["rows"]] == [small.pk]

    def test_the_invoice_payment_page_takes_the_same_queries_whatever_the_payments(self, finance_client):
        cust = customer()
        top = top_up_invoice(cust, "100")
        payment(cust, "100")
        url = reverse("finance:invoice-payment", args=[top.pk])
        with CaptureQueriesContext(connection) as one:
            finance_client.get(url)
        for _ in range(4):
            payment(cust, "200")
        with CaptureQueriesContext(connection) as five:
            assert len(finance_client.get(url).context["rows"]) == 5
        assert len(five) == len(one)


class TestCreditNotesAndWithdrawals:
    def test_issue_a_credit_note_from_the_invoice_and_read_it(self, finance_client):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        form = finance_client.get(reverse("finance:credit-note-create"), {"invoice": inv.pk})
        assert form.context["form"].initial["invoice_number"] == inv.number
        response = finance_client.post(reverse("finance:credit-note-create"), {
            "customer": cust.pk, "invoice_number": inv.number, "amount": "100", "reason": "Cancelled",
            "issue_date": TODAY.isoformat()})
        note = CreditNote.objects.get()
        assert response.status_code == 302
        inv.refresh_from_db()
        assert inv.status == InvoiceStatus.VOID
        assert note.number in finance_client.get(reverse("finance:credit-note-detail", args=[note.pk])).content.decode()
        pdf = finance_client.get(reverse("finance:credit-note-pdf", args=[note.pk]))
        assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        listing = finance_client.get(reverse("finance:credit-note-list"), {"kind": "invoice"})
        assert list(listing.context["page"].object_list) == [note]
        rows = _csv(finance_client.get(reverse("finance:credit-note-list"), {"format": "csv"}))
        assert rows[1][0] == note.number

    def test_unknown_invoice_number_is_a_field_error(self, finance_client):
        cust = customer()
        response = finance_client.post(reverse("finance:credit-note-create"), {
            "customer": cust.pk, "invoice_number": "INV-NOPE", "amount": "1", "reason": "x",
            "issue_date": TODAY.isoformat()})
        assert "There is no invoice INV-NOPE" in response.content.decode() and not CreditNote.objects.exists()

    def test_withdrawal_over_the_limit_is_refused_on_the_page(self, finance_client):
        cust = customer()
        payment_top_up(payment=payment(cust, "50"), amount="50", actor=SYSTEM)
        page = finance_client.get(reverse("finance:withdrawal-create"), {"customer": cust.pk})
        assert "50.00" in page.content.decode()
        data = {"customer": cust.pk, "amount": "60", "method": "bank_transfer", "paid_date": TODAY.isoformat()}
        response = finance_client.post(reverse("finance:withdrawal-create"), data)
        assert response.status_code == 200 and "can withdraw at most 50.00" in response.content.decode()
        assert not Withdrawal.objects.exists()
        response = finance_client.post(reverse("finance:withdrawal-create"), {**data, "amount": "50"})
        w = Withdrawal.objects.get()
        assert response.status_code == 302
        assert "50.00" in finance_client.get(reverse("finance:withdrawal-detail", args=[w.pk])).content.decode()
        rows = _csv(finance_client.get(reverse("finance:withdrawal-list"), {"format": "csv"}))
        assert rows[1][0] == str(w.pk)

    def test_lists_have_a_constant_number_of_queries(self, finance_client, django_assert_max_num_queries):
        from finance.services.credit_notes import credit_note_issue
        from finance.services.withdrawals import withdrawal_record

        for n in range(26):
            cust = customer()
            inv = purchase_invoice(cust, "10")
            credit_note_issue(customer=cust, invoice=inv, amount="1", reason=f"n{n}", actor=SYSTEM)
            payment_top_up(payment=payment(cust, "10"), amount="10", actor=SYSTEM)
            withdrawal_record(customer=cust, amount="1", method="cash", actor=SYSTEM)
        for name in ("finance:credit-note-list", "finance:withdrawal-list"):
            with django_assert_max_num_queries(12):
                response = finance_client.get(reverse(name))
            assert len(response.context["page"].object_list) == 25


def test_reports_index_links_aged_receivables(finance_client):
    body = finance_client.get(reverse("finance:reports")).content.decode()
    assert reverse("finance:aged-receivables") in body


def test_csv_cells_cannot_become_formulas():
    assert csv_text("=SUM(A1)") == "'=SUM(A1)" and csv_text("ok") == "ok"
