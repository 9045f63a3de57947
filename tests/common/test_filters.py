"""Date filters on every list (issue 23, defect 5; common.filters): a date that is not a date shows its
error and the list what the other filters match; an end before the start shows its error and no rows, on
the page and in the table htmx swaps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from finance.services.credit_notes import credit_note_issue
from finance.services.withdrawals import withdrawal_record
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
REVERSED = "The end date is before the start date."


@pytest.fixture
def rows():
    """One row in every staff list with date filters, dated today."""
    acme = customer(name="Acme Pte Ltd", code="ACME")
    payment(acme, "100", reference="TT-ONE")
    purchase_invoice(acme, "10")
    credit_note_issue(customer=acme, amount="5", reason="Goodwill", issue_date=TODAY, actor=SYSTEM)
    withdrawal_record(customer=acme, amount="5", method="bank_transfer", reference="WD-1", remark="",
                      paid_date=TODAY, actor=SYSTEM)
    return acme


# (url name, the start and end parameters, how many rows the page lists: its context's page)
LISTS = [
    ("finance:payment-list", "received_from", "received_to"),
    ("finance:credit-note-list", "issued_from", "issued_to"),
    ("finance:withdrawal-list", "paid_from", "paid_to"),
    ("invoices:list", "issued_from", "issued_to"),
    ("audit:list", "date_from", "date_to"),
]


def _count(response) -> int:
    return len(response.context["page"].object_list)


@pytest.mark.parametrize(("name", "start", "end"), LISTS)
def test_an_end_before_the_start_shows_its_error_and_no_rows(finance_client, rows, name, start, end):
    url = reverse(name)
    assert _count(finance_client.get(url)) >= 1
    week_ago, today = (TODAY - dt.timedelta(days=7)).isoformat(), TODAY.isoformat()
    assert _count(finance_client.get(url, {start: week_ago, end: today})) >= 1
    for headers in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "x"}):
        response = finance_client.get(url, {start: today, end: week_ago}, **headers)
        assert response.status_code == 200
        assert REVERSED in response.content.decode()
        assert _count(response) == 0


@pytest.mark.parametrize(("name", "start", "end"), LISTS)
def test_a_date_that_is_not_a_date_shows_its_error_and_the_rest_applies(finance_client, rows, name, start, end):
    url = reverse(name)
    every = _count(finance_client.get(url))
    for bad in ("2026-13-45", "yesterday"):
        response = finance_client.get(url, {start: bad})
        assert response.status_code == 200
        assert "Enter a valid date." in response.content.decode()
        assert _count(response) == every
    future = (TODAY + dt.timedelta(days=1)).isoformat()
    response = finance_client.get(url, {start: future, end: "nope"})
    assert "Enter a valid date." in response.content.decode() and _count(response) == 0


def test_the_error_is_inside_the_table_htmx_swaps(finance_client, rows):
    response = finance_client.get(reverse("finance:payment-list"),
                                  {"received_from": TODAY.isoformat(), "received_to": "2000-01-01"},
                                  HTTP_HX_REQUEST="true", HTTP_HX_TARGET="payment-table")
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="panel" id="payment-table"')
    assert f"Received to: {REVERSED}" in page and "TT-ONE" not in page
    assert AuditEvent.objects.exists()  # the audit list above had rows to hide
