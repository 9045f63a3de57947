"""The reconcile inbox and a line's page: list by state with filters, search, CSV and a constant number of
queries; confirm, edit the allocation (finance's preview), confirm all high-confidence, ignore, undo; the payment
page shows its statement line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from banking.matching import HIGH
from banking.models import LineState, StatementLine
from banking.services.imports import statement_import
from finance.models import Allocation, Payment
from tests.banking.factories import bank_account, camt053
from tests.customers.factories import SYSTEM
from tests.finance.factories import customer, purchase_invoice

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate().isoformat()


def imported(*entries, account=None) -> list[StatementLine]:
    account = account or bank_account()
    for e in entries:
        e.setdefault("date", TODAY)
    statement = statement_import(account_id=account.pk, file_name="s.xml", content=camt053(list(entries)),
                                 actor=SYSTEM, at=timezone.now())
    return list(statement.lines.order_by("position"))


def inbox(client, **params) -> str:
    return client.get(reverse("banking:line-list"), params).content.decode()


class TestInbox:
    def test_lists_the_lines_to_reconcile_with_their_best_suggestion_and_reasons(self, finance_client):
        acme = customer(name="Acme Trading")
        invoice = purchase_invoice(acme, "100")
        imported({"amount": "100.00", "text": invoice.number, "name": "ACME"},
                 {"amount": "5.00", "sign": "DBIT", "text": "Bank fee"})
        page = inbox(finance_client)
        assert "Record a payment and allocate it" in page and "Acme Trading" in page
        assert f"{invoice.number} is in the remittance text, open 100.00 SGD" in page
        assert "Bank fee" in page and "No suggestion" in page

    def test_rows_link_to_their_line_confirm_and_payment_as_reversed(self, finance_client, viewer_user, client):
        # The row URLs are built once per page around the id (views.line_list), not by {% url %} per row: each must
        # still be the URL reverse() gives, and the Confirm form only for a user who may change lines.
        acme = customer(name="Acme Trading")
        invoice = purchase_invoice(acme, "100")
        line, = imported({"amount": "100.00", "text": invoice.number, "name": "ACME"})
        page = inbox(finance_client)
        assert f'href="{reverse("banking:line-detail", args=[line.pk])}">#{line.pk}</a>' in page
        assert f'action="{reverse("banking:line-confirm", args=[line.pk])}"' in page
        finance_client.post(reverse("banking:line-confirm", args=[line.pk]), {"suggestion": line.suggestions.get(rank=1).pk})
        line.refresh_from_db()
        page = inbox(finance_client, state=LineState.RECONCILED)
        assert f'href="{reverse("finance:payment-detail", args=[line.payment_id])}">Payment #{line.payment_id}</a>' in page
        client.force_login(viewer_user, backend="django.contrib.auth.backends.ModelBackend")
        (other,) = imported({"amount": "100.00", "text": invoice.number, "name": "ACME", "ref": "again"},
                            account=line.account)
        assert viewer_user.has_perm("banking.view_statementline")
        assert not viewer_user.has_perm("banking.change_statementline")
        page = client.get(reverse("banking:line-list")).content.decode()
        assert f'id="line-{other.pk}"' in page and reverse("banking:line-confirm", args=[other.pk]) not in page

    def test_high_confidence_is_shown_with_the_matching_threshold(self, finance_client):
        # The template reads `high` (the score from which a suggestion is high confidence): the list's view passes
        # it, else the button's question names no score and every best suggestion is badged as a low one.
        acme = customer(name="Acme Trading")
        invoice = purchase_invoice(acme, "100")
        line, = imported({"amount": "100.00", "text": invoice.number, "name": "ACME"})
        assert line.best_score >= HIGH
        page = inbox(finance_client)
        assert f"(score {HIGH} or more)" in page
        assert f'<span class="badge badge-paid" title="Score">{line.best_score}</span>' in page

    def test_filters_by_state_direction_confidence_and_search(self, finance_client):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        imported({"amount": "100.00", "text": invoice.number, "name": "Payer One"},
                 {"amount": "5.00", "sign": "DBIT", "text": "Bank fee", "name": "DBS"})
        assert "Bank fee" not in inbox(finance_client, direction="in")
        assert "Payer One" not in inbox(finance_client, direction="out")
        assert "Bank fee" not in inbox(finance_client, confidence="high")
        assert "Payer One" not in inbox(finance_client, q="fee")
        assert "No statement lines match" in inbox(finance_client, state="reconciled")

    def test_the_default_state_is_the_lines_still_to_reconcile(self, finance_client):
        fee, other = imported({"amount": "5.00", "sign": "DBIT", "text": "Bank fee"}, {"amount": "7.00", "text": "x"})
        finance_client.post(reverse("banking:line-ignore", args=[fee.pk]), {"reason": "Monthly fee"})
        for params in ({}, {"state": "inbox"}, {"state": "nonsense"}):
            page = inbox(finance_client, **params)
            assert f"#{other.pk}<" in page and f"#{fee.pk}<" not in page, params
        assert "State: Select a valid choice" in inbox(finance_client, state="nonsense")
        page = inbox(finance_client, state="all")
        assert f"#{other.pk}<" in page and f"#{fee.pk}<" in page

    def test_a_booked_range_that_ends_before_it_starts_is_shown_and_matches_nothing(self, finance_client):
        imported({"amount": "7.00", "text": "x", "name": "Payer One"})
        page = inbox(finance_client, booked_from="2026-02-01", booked_to="2026-01-01")
        assert "Booked to:" in page and "No statement lines match" in page and "Payer One" not in page

    def test_exports_csv_of_the_filtered_lines(self, finance_client):
        imported({"amount": "5.00", "sign": "DBIT", "text": "=HYPERLINK(1)"}, {"amount": "7.00", "text": "x"})
        response = finance_client.get(reverse("banking:line-list"), {"direction": "out", "format": "csv"})
        rows = b"".join(response.streaming_content).decode().splitlines()
        assert len(rows) == 2 and rows[0].startswith("id,booking_date") and "'=HYPERLINK(1)" in rows[1]

    def test_reads_a_constant_number_of_queries(self, finance_client):
        def count():
            with CaptureQueriesContext(connection) as queries:
                assert finance_client.get(reverse("banking:line-list")).status_code == 200
            return len(queries)

        acme = customer(code="ACME")
        account = bank_account()
        imported({"amount": "1.00", "text": "ACME"}, account=account)
        few = count()
        invoices = [purchase_invoice(acme, str(n + 2)) for n in range(6)]
        imported(*[{"amount": f"{n + 2}.00", "text": i.number} for n, i in enumerate(invoices)], account=account)
        assert count() == few


class TestActions:
    def test_one_click_confirms_and_the_payment_page_shows_the_line(self, finance_client):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": invoice.number, "name": "ACME"})
        suggestion = line.suggestions.get(rank=1)
        response = finance_client.post(reverse("banking:line-confirm", args=[line.pk]),
                                       {"suggestion": suggestion.pk, "next": "/bank/reconcile/?state=inbox"})
        assert response.status_code == 302 and response["Location"] == "/bank/reconcile/?state=inbox"
        line.refresh_from_db()
        assert line.state == LineState.RECONCILED
        page = finance_client.get(reverse("finance:payment-detail", args=[line.payment_id])).content.decode()
        assert f"Line #{line.pk}</a>, booked" in page
        detail = finance_client.get(reverse("banking:line-detail", args=[line.pk])).content.decode()
        assert f"Payment #{line.payment_id}</a> recorded from this line" in detail

    def test_a_refusal_is_shown_and_changes_nothing(self, finance_client):
        acme = customer()
        invoice = purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": invoice.number})
        suggestion = line.suggestions.get(rank=1)
        response = finance_client.post(reverse("banking:line-confirm", args=[line.pk]), {
            "suggestion": suggestion.pk, "edited": "1", "invoice": str(invoice.pk), f"amount-{invoice.pk}": "1e5"},
            follow=True)
        assert "cannot be written with an exponent" in response.content.decode()
        assert not Payment.objects.exists()

    def test_the_allocation_edited_with_finances_preview(self, finance_client):
        acme = customer()
        first, second = purchase_invoice(acme, "100"), purchase_invoice(acme, "100")
        (line,) = imported({"amount": "100.00", "text": first.number})
        suggestion = line.suggestions.get(rank=1)
        page = finance_client.get(reverse("banking:line-detail", args=[line.pk]), {"edit": suggestion.pk})
        assert 'id="edit-allocation"' in page.content.decode() and second.number in page.content.decode()
        preview = finance_client.get(reverse("banking:line-preview", args=[line.pk]), {
            "invoice": [first.pk, second.pk], f"amount-{first.pk}": "30", f"amount-{second.pk}": "70"}).content.decode()
        assert "Preview" in preview and "Partially paid" in preview and "will be assigned to" in preview
        finance_client.post(reverse("banking:line-confirm", args=[line.pk]), {
            "suggestion": suggestion.pk, "edited": "1", "invoice": [first.pk, second.pk],
            f"amount-{first.pk}": "30", f"amount-{second.pk}": "70"})
        assert sorted(Allocation.objects.values_list("amount", flat=True)) == [Decimal("30"), Decimal("70")]

    def test_confirm_all_high_confidence(self, finance_client):
        acme = customer(code="ACME")
        one, two = purchase_invoice(acme, "10"), purchase_invoice(acme, "20")
        imported({"amount": "10.00", "text": one.number}, {"amount": "20.00", "text": two.number},
                 {"amount": "3.00", "text": "ACME"})
        response = finance_client.post(reverse("banking:line-confirm-high"), {}, follow=True)
        assert "2 lines reconciled." in response.content.decode()
        assert StatementLine.objects.filter(state=LineState.RECONCILED).count() == 2

    def test_confirm_all_high_confidence_keeps_to_the_inbox_filters(self, finance_client):
        acme, other = customer(name="Acme Trading"), customer(name="Other Co")
        one, two = purchase_invoice(acme, "10"), purchase_invoice(other, "20")
        first, second = imported({"amount": "10.00", "text": one.number, "name": "ACME PTE"},
                                 {"amount": "20.00", "text": two.number, "name": "OTHER CO"})
        assert first.best_score >= HIGH and second.best_score >= HIGH
        response = finance_client.post(reverse("banking:line-confirm-high"), {"q": "acme"}, follow=True)
        assert "1 line reconciled." in response.content.decode()
        assert set(StatementLine.objects.filter(state=LineState.RECONCILED).values_list("pk", flat=True)) == {first.pk}

    def test_ignore_with_a_reason_then_undo(self, finance_client):
        (line,) = imported({"amount": "5.00", "sign": "DBIT", "text": "Bank fee"})
        finance_client.post(reverse("banking:line-ignore", args=[line.pk]), {"reason": "Monthly fee"})
        line.refresh_from_db()
        assert (line.state, line.ignored_reason) == (LineState.IGNORED, "Monthly fee")
        assert "Monthly fee" in inbox(finance_client, state="ignored")
        finance_client.post(reverse("banking:line-undo", args=[line.pk]), {"reason": ""})
        line.refresh_from_db()
        assert line.state == LineState.NEW

    def test_a_line_without_suggestions_is_given_a_customer_with_the_picker_then_confirmed(self, finance_client):
        gamma = customer(name="Gamma Networks", code="GAMMA")
        invoice = purchase_invoice(gamma, "10")
        (line,) = imported({"amount": "10.00", "name": "Wayne Enterprises", "text": "hello"})
        page = finance_client.get(reverse("banking:line-detail", args=[line.pk])).content.decode()
        # The one customer picker: its input asks customers:options, its options land in the datalist.
        assert f'hx-get="{reverse("customers:options")}?field=customer"' in page
        assert 'list="id_customer-options"' in page and '<datalist id="id_customer-options"' in page
        assert "Record for a customer" in page
        for typed in ("gamma", "GAM", "netw", "gamma net"):  # a word of the name or the code, as typed so far
            options = finance_client.get(reverse("customers:options"), {"customer": typed}).content.decode()
            assert '<option value="GAMMA">Gamma Networks' in options, typed
        assert "<option" not in finance_client.get(reverse("customers:options"), {"customer": "etworks"}).content.decode()
        response = finance_client.post(reverse("banking:line-choose-customer", args=[line.pk]),
                                       {"customer": "GAMMA"})
        suggestion = line.suggestions.get()
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('banking:line-detail', args=[line.pk])}?edit={suggestion.pk}" \
                                       "#edit-allocation"
        page = finance_client.get(response["Location"]).content.decode()
        assert "Edit the allocation for Gamma Networks" in page and f'value="{invoice.pk}"' in page
        finance_client.post(reverse("banking:line-confirm", args=[line.pk]),
                            {"suggestion": suggestion.pk, "edited": "1", "invoice": str(invoice.pk),
                             f"amount-{invoice.pk}": "10.00"})
        line.refresh_from_db()
        invoice.refresh_from_db()
        assert line.state == LineState.RECONCILED and invoice.amount_paid == Decimal("10")

    def test_a_customer_code_that_names_nobody_or_is_refused_is_shown_on_the_line(self, finance_client):
        customer(name="Dollar Co", code="USDCO", currency="USD")
        (line,) = imported({"amount": "10.00", "name": "Wayne Enterprises", "text": "hello"})
        url = reverse("banking:line-choose-customer", args=[line.pk])
        for code, message in (("NOPE", "There is no customer with the code NOPE."),
                              ("USDCO", "Dollar Co (USDCO) is billed in USD; the line is in SGD.")):
            response = finance_client.post(url, {"customer": code})
            assert response.status_code == 200 and message in response.content.decode()
        assert not line.suggestions.exists()

    def test_money_out_offers_no_customer_picker(self, finance_client):
        (line,) = imported({"amount": "3.00", "sign": "DBIT", "text": "fee"})
        page = finance_client.get(reverse("banking:line-detail", args=[line.pk])).content.decode()
        assert "choose-customer" not in page

    def test_the_viewer_sees_but_cannot_act(self, viewer_client):
        (line,) = imported({"amount": "5.00", "text": "x"})
        assert viewer_client.get(reverse("banking:line-list")).status_code == 200
        assert viewer_client.get(reverse("banking:line-detail", args=[line.pk])).status_code == 200
        assert "choose-customer" not in viewer_client.get(reverse("banking:line-detail", args=[line.pk])).content.decode()
        assert viewer_client.post(reverse("banking:line-choose-customer", args=[line.pk]),
                                  {"customer": "X"}).status_code == 403
        assert viewer_client.post(reverse("banking:line-ignore", args=[line.pk]), {"reason": "x"}).status_code == 403
        assert viewer_client.post(reverse("banking:line-confirm-high")).status_code == 403


def test_a_payment_recorded_after_the_import_is_found_again(finance_client):
    from tests.finance.factories import payment

    (line,) = imported({"amount": "42.00", "e2e": "LATE-1", "name": "Somebody"})
    assert line.state == LineState.NEW
    recorded = payment(customer(), "42", reference="LATE-1")
    response = finance_client.post(reverse("banking:line-suggest", args=[line.pk]), follow=True)
    assert "1 suggestion found." in response.content.decode()
    assert line.suggestions.get().payment == recorded
