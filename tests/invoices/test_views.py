"""The staff invoice pages: list (filters, search, sort, pagination, CSV, constant queries), create, the
invoice page and its actions. Thin views: the rules are the services', their refusals shown on the page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from invoices.models import Invoice, InvoiceStatus
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db
LIST = reverse("invoices:list")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "invoice-table"}


def numbers(response):
    return [inv.number for inv in response.context["page"].object_list]


@pytest.fixture
def some_invoices(customer, consolidated):
    a = top_up_invoice(customer, "100", issue_date=dt.date(2026, 1, 5))
    b = top_up_invoice(consolidated, "300", sent=True, issue_date=dt.date(2026, 2, 10))
    c = purchase_invoice(customer, sent=True, issue_date=dt.date(2026, 3, 15))
    return a, b, c


class TestList:
    def test_lists_newest_first(self, finance_client, some_invoices):
        a, b, c = some_invoices
        response = finance_client.get(LIST)
        assert response.status_code == 200 and numbers(response) == [c.number, b.number, a.number]
        assert b"+ Create invoice" in response.content

    @pytest.mark.parametrize("params, expected", [
        ({"type": "top_up"}, ["b", "a"]),
        ({"status": "sent"}, ["c", "b"]),
        ({"status": "draft", "type": "top_up"}, ["a"]),
        ({"issued_from": "2026-02-01"}, ["c", "b"]),
        ({"issued_from": "2026-01-01", "issued_to": "2026-02-28"}, ["b", "a"]),
        ({"q": "globex"}, ["b"]),
        ({"q": "ACME"}, ["c", "a"]),
        ({"sort": "total"}, ["a", "c", "b"]),
        ({"sort": "-number"}, ["c", "b", "a"]),
        ({"sort": "customer"}, ["c", "a", "b"]),
    ])
    def test_filters_search_and_sort(self, finance_client, some_invoices, params, expected):
        by_name = dict(zip("abc", some_invoices, strict=True))
        response = finance_client.get(LIST, params)
        assert numbers(response) == [by_name[x].number for x in expected]

    def test_filters_by_customer_with_a_chip_to_clear_it(self, finance_client, some_invoices, customer):
        response = finance_client.get(LIST, {"customer": customer.pk})
        assert numbers(response) == [some_invoices[2].number, some_invoices[0].number]
        assert b"Acme Pte Ltd</strong> (ACME)" in response.content

    def test_search_by_number(self, finance_client, some_invoices):
        response = finance_client.get(LIST, {"q": some_invoices[1].number})
        assert numbers(response) == [some_invoices[1].number]

    def test_a_reversed_range_shows_its_error_and_no_invoices(self, finance_client, some_invoices):
        # Issue 23, defect 5: before it, the end was ignored and the invoices from the start on were listed.
        response = finance_client.get(LIST, {"issued_from": "2026-03-01", "issued_to": "2026-01-01"})
        assert "The end date is before the start date." in response.content.decode()
        assert numbers(response) == []

    def test_each_row_shows_its_invoice_escaped_with_its_link(self, finance_client):
        odd = CustomerFactory(name="Odd <b>&</b> Co", code="ODD1")
        long_name = 'Hardware "<one>" ' + "x" * 40
        invoice = top_up_invoice(odd, "1234.5", sent=True, name=long_name, issue_date=dt.date(2026, 3, 2),
                                 due_date=dt.date(2026, 3, 16))
        page = finance_client.get(LIST).content.decode()
        start = page.index(f'<tr data-invoice="{invoice.number}">')
        row = page[start:page.index("</tr>", start)]
        href = reverse("invoices:detail", args=[invoice.pk])
        assert f'<td><a hx-boost="false" href="{href}" class="mono">{invoice.number}</a></td>' in row
        assert ("<td>Odd &lt;b&gt;&amp;&lt;/b&gt; Co<br><small>ODD1</small></td><td>Top-up</td>"
                "<td>Hardware &quot;&lt;one&gt;&quot; " + "x" * 22 + "…</td>"  # 40 characters
                "<td>2026-03-02</td><td>2026-03-16</td>") in row and "<b>&" not in page
        assert '<td><span class="badge badge-sent">Awaiting payment</span></td>' in row
        assert '<td class="num">1,234.50 SGD</td><td class="num">1,234.50 SGD</td>' in row

    def test_htmx_gets_the_table_only(self, finance_client, some_invoices):
        response = finance_client.get(LIST, {"type": "purchase"}, **HTMX)
        html = response.content.decode()
        assert html.lstrip().startswith('<section class="panel" id="invoice-table"') and "<html" not in html

    def test_csv_export_of_the_filtered_rows(self, finance_client, some_invoices):
        response = finance_client.get(LIST, {"type": "top_up", "format": "csv"})
        rows = b"".join(response.streaming_content).decode().strip().splitlines()
        assert rows[0].startswith("Number,Type,Status,Customer code")
        assert len(rows) == 3 and some_invoices[1].number in rows[1] and "300.000000" in rows[1]

    def test_paginates(self, finance_client, customer):
        for _ in range(27):
            top_up_invoice(customer, "10")
        response = finance_client.get(LIST, {"page": 2})
        assert len(response.context["page"].object_list) == 2 and "Page 2 of 2" in response.content.decode()

    def test_a_constant_number_of_queries_whatever_the_rows(self, finance_client, django_assert_max_num_queries):
        def make(n):
            for i in range(n):
                top_up_invoice(CustomerFactory(), "10" if i % 2 else "20", sent=i % 3 == 0)

        make(3)
        with django_assert_max_num_queries(12) as few:
            finance_client.get(LIST)
        make(22)
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = finance_client.get(LIST)
        assert len(response.context["page"].object_list) == 25

    def test_viewers_see_it_without_the_create_button(self, viewer_client, some_invoices):
        response = viewer_client.get(LIST)
        assert response.status_code == 200 and b"+ Create invoice" not in response.content

    def test_anonymous_users_are_sent_to_sign_in(self, client):
        assert client.get(LIST).status_code == 302


class TestCreateTopUp:
    URL = reverse("invoices:create-top-up")

    def test_creates_a_draft_and_opens_it(self, finance_client, customer):
        response = finance_client.post(self.URL, {"customer": "acme", "amount": "250", "name": "April top-up"})
        invoice = Invoice.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("invoices:detail", args=[invoice.pk])
        assert (invoice.customer, invoice.total, invoice.name, invoice.status) == (
            customer, Decimal("250"), "April top-up", InvoiceStatus.DRAFT)

    def test_htmx_success_redirects_the_page(self, finance_client, customer):
        response = finance_client.post(self.URL, {"customer": "ACME", "amount": "250"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 204 and response["HX-Redirect"].startswith("/invoices/")

    @pytest.mark.parametrize("data, message", [
        ({"customer": "NOPE", "amount": "250"}, "There is no customer with the code NOPE."),
        ({"customer": "ACME", "amount": "abc"}, "The top-up amount must be a number"),
        ({"customer": "ACME", "amount": "1"}, "The top-up amount must be at least 10.00 SGD."),
        ({"customer": "ACME", "amount": ""}, "This field is required."),
    ])
    def test_bad_input_is_shown_and_changes_nothing(self, finance_client, customer, data, message):
        response = finance_client.post(self.URL, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and message in response.content.decode()
        assert '<form method="post"' in response.content.decode()
        assert not Invoice.objects.exists()

    def test_prefills_the_customer(self, finance_client, customer):
        response = finance_client.get(self.URL, {"customer": customer.pk})
        assert 'value="ACME"' in response.content.decode()

    def test_suggests_customers_as_you_type(self, finance_client, customer, consolidated):
        response = finance_client.get(reverse("customers:options"), {"customer": "glo"})
        assert response.content.decode().strip().startswith('<option value="GLOBEX">Globex Corp')

    def test_viewers_may_not_create(self, viewer_client, customer):
        assert viewer_client.post(self.URL, {"customer": "ACME", "amount": "250"}).status_code == 403
        assert not Invoice.objects.exists()


class TestCreatePurchase:
    URL = reverse("invoices:create-purchase")

    def data(self, **extra):
        base = {"customer": "ACME", "name": "Hardware order", "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0",
                "lines-MIN_NUM_FORMS": "1", "lines-MAX_NUM_FORMS": "200",
                "lines-0-kind": "hardware", "lines-0-description": "IP phone", "lines-0-quantity": "2",
                "lines-0-unit_price": "80", "lines-0-tax_rate": "9",
                "lines-1-kind": "service", "lines-1-description": "Installation", "lines-1-quantity": "1",
                "lines-1-unit_price": "50", "lines-1-tax_rate": "0",
                "lines-2-kind": "service", "lines-2-description": "", "lines-2-quantity": "1",
                "lines-2-unit_price": "", "lines-2-tax_rate": "9"}
        return {**base, **extra}

    def test_creates_a_draft_with_its_lines_ignoring_blank_ones(self, finance_client, customer):
        response = finance_client.post(self.URL, self.data())
        invoice = Invoice.objects.get()
        assert response.status_code == 302
        assert [(ln.description, ln.kind, ln.amount, ln.tax_amount) for ln in invoice.lines.all()] == [
            ("IP phone", "hardware", Decimal("160"), Decimal("14.4")), ("Installation", "service", Decimal("50"), 0)]
        assert invoice.total == Decimal("224.4")

    def test_add_line_shows_one_more_line_and_keeps_what_was_typed(self, finance_client, customer):
        response = finance_client.post(self.URL, {**self.data(), "add_line": "1"}, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200 and html.count('class="line-row"') == 4 and 'value="IP phone"' in html
        assert not Invoice.objects.exists()

    def test_a_bad_line_is_shown_and_changes_nothing(self, finance_client, customer):
        response = finance_client.post(self.URL, self.data(**{"lines-0-quantity": "0"}), HTTP_HX_REQUEST="true")
        assert "Line 1: the quantity must be more than zero." in response.content.decode()
        assert not Invoice.objects.exists()

    def test_the_services_refusal_is_shown(self, finance_client, consolidated):
        response = finance_client.post(self.URL, self.data(customer="GLOBEX"), HTTP_HX_REQUEST="true")
        assert "purchase invoices are only for customers with individual invoices" in response.content.decode()
        assert not Invoice.objects.exists()


class TestInvoicePage:
    def test_shows_the_invoice_its_lines_and_figures(self, finance_client, customer):
        invoice = purchase_invoice(customer, sent=True)
        html = finance_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
        assert invoice.number in html and "Onboarding service" in html
        assert 'data-total="total">109.00 SGD' in html and 'data-total="amount_due">109.00 SGD' in html
        assert "Invoice issued" in html  # the ledger entry it posted

    def test_send_emails_it(self, finance_client, customer, mailoutbox, django_capture_on_commit_callbacks):
        invoice = top_up_invoice(customer)
        with django_capture_on_commit_callbacks(execute=True):
            response = finance_client.post(reverse("invoices:send", args=[invoice.pk]), HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT and len(mailoutbox) == 1

    def test_mark_as_sent_does_not_email(self, finance_client, customer, mailoutbox):
        invoice = top_up_invoice(customer)
        response = finance_client.post(reverse("invoices:mark-sent", args=[invoice.pk]))
        assert response.status_code == 302
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT and mailoutbox == []

    def test_a_refusal_is_shown_in_the_action_bar(self, finance_client, customer):
        invoice = purchase_invoice(customer, sent=True)
        response = finance_client.post(reverse("invoices:void", args=[invoice.pk]), {"reason": "wrong"},
                                       HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200 and 'id="action-error"' in html and "cancelled with a credit note" in html
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT

    def test_a_refusal_without_htmx_comes_back_as_a_message(self, finance_client, customer):
        invoice = top_up_invoice(customer, sent=True)
        response = finance_client.post(reverse("invoices:mark-sent", args=[invoice.pk]), follow=True)
        assert "only a draft can be marked as sent" in response.content.decode()

    def test_void_needs_a_reason(self, finance_client, customer):
        invoice = top_up_invoice(customer, sent=True)
        response = finance_client.post(reverse("invoices:void", args=[invoice.pk]), {"reason": ""},
                                       HTTP_HX_REQUEST="true")
        assert "This field is required." in response.content.decode()
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT

    def test_void(self, finance_client, customer):
        invoice = top_up_invoice(customer, sent=True)
        finance_client.post(reverse("invoices:void", args=[invoice.pk]), {"reason": "Paid by card instead"})
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.VOID and invoice.void_reason == "Paid by card instead"

    def test_the_page_says_why_an_invoice_cannot_be_voided(self, finance_client, customer):
        invoice = purchase_invoice(customer, sent=True)
        html = finance_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
        assert 'id="void-refusal"' in html and "cancelled with a credit note" in html

    def test_pdf_download(self, finance_client, customer):
        invoice = top_up_invoice(customer)
        response = finance_client.get(reverse("invoices:pdf", args=[invoice.pk]))
        assert response["Content-Type"] == "application/pdf" and response.content[:5] == b"%PDF-"
        assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'

    def test_viewers_may_look_but_not_act(self, viewer_client, customer):
        invoice = top_up_invoice(customer)
        html = viewer_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
        assert 'id="action-send"' not in html and 'id="action-pdf"' in html
        for name in ("send", "mark-sent", "void"):
            assert viewer_client.post(reverse(f"invoices:{name}", args=[invoice.pk]), {"reason": "x"}).status_code == 403
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.DRAFT

    def test_unknown_invoice_is_404(self, finance_client):
        assert finance_client.get(reverse("invoices:detail", args=[999999])).status_code == 404
        assert finance_client.post(reverse("invoices:send", args=[999999])).status_code == 404


class TestCreditNotesOnTheInvoicePage:
    def test_shows_the_credit_notes_against_the_invoice(self, finance_client, customer):
        from finance.services.credit_notes import credit_note_issue
        from tests.invoices.factories import SYSTEM

        invoice = purchase_invoice(customer, sent=True)
        note = credit_note_issue(customer=customer, invoice=invoice, amount=Decimal("9"), reason="Goodwill",
                                 actor=SYSTEM)
        html = finance_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
        assert 'id="credit-notes"' in html and note.number in html and "Goodwill" in html
        assert 'data-total="amount_credited">9.00 SGD' in html and 'data-total="amount_due">100.00 SGD' in html
        assert f"/credit-notes/new/?invoice={invoice.pk}" in html  # another credit note, from the ⋯ menu


class TestMonthlyInvoicePage:
    def test_sums_the_usage_it_bills_instead_of_listing_every_call(self, finance_client, customer):
        from tests.invoices.factories import monthly_invoice, usage

        for _ in range(30):
            usage(customer, "0.5", at=dt.datetime(2026, 2, 10, tzinfo=dt.UTC))
        invoice = monthly_invoice(customer, "2026-02")
        html = finance_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
        assert "Bills 30 usage entries" in html and "-15.00 SGD" in html
        assert html.count("<td>Call</td>") == 0 and "Invoice issued" in html


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_escaped(finance_client):
    evil = CustomerFactory(name="=HYPERLINK(\"http://x\")", code="EVIL")
    top_up_invoice(evil, "10", name="@SUM(A1)")
    rows = b"".join(finance_client.get(LIST, {"format": "csv"}).streaming_content).decode().splitlines()
    assert "'=HYPERLINK" in rows[1] and "'@SUM(A1)" in rows[1]
