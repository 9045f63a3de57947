"""Aged receivables: outstanding per customer by days past due, as of any date, with unallocated cash and
credits beside it, totals, CSV, and a constant number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from finance.receivables.selectors import aged_receivables
from finance.services.allocation import payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.top_ups import payment_top_up
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _at(days_ago: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(10)))


def _invoice(cust, total, *, issued_ago: int, due_ago: int):
    return purchase_invoice(cust, total, issue_date=TODAY - dt.timedelta(days=issued_ago),
                            due_date=TODAY - dt.timedelta(days=due_ago), at=_at(issued_ago))


@pytest.fixture
def book():
    cust = customer(name="Aged Co")
    x = _invoice(cust, "100", issued_ago=100, due_ago=95)  # 95 days overdue today
    w = _invoice(cust, "30", issued_ago=80, due_ago=75)
    z = _invoice(cust, "70", issued_ago=60, due_ago=45)
    v = _invoice(cust, "20", issued_ago=20, due_ago=10)
    y = _invoice(cust, "50", issued_ago=0, due_ago=-10)  # due in ten days: current
    pay = payment(cust, "100", received_date=TODAY - dt.timedelta(days=5))
    payment_allocate(payment=pay, lines=[(x.pk, "40")], actor=SYSTEM, at=_at(5))
    credit_note_issue(customer=cust, invoice=z, amount="20", reason="discount", actor=SYSTEM, at=_at(3))
    return cust, {"x": x, "w": w, "z": z, "v": v, "y": y}


def test_buckets_by_days_past_due_today(book):
    cust, _ = book
    report = aged_receivables(TODAY)
    (row,) = [r for r in report.rows if r.customer_id == cust.pk]
    assert [row.current, row.d1_30, row.d31_60, row.d61_90, row.d90_plus] == [
        Decimal("50"), Decimal("20"), Decimal("50"), Decimal("30"), Decimal("60")]
    assert row.total == Decimal("210")
    assert row.unallocated_cash == Decimal("60")
    assert report.totals["SGD"]["total"] == Decimal("210")


def test_as_of_an_earlier_date_counts_what_was_true_then(book):
    cust, _ = book
    report = aged_receivables(TODAY - dt.timedelta(days=50))
    (row,) = [r for r in report.rows if r.customer_id == cust.pk]
    # x: due 45 days before then, nothing paid yet; w: due 25 days before; z: not yet due; v, y: not sent yet
    assert [row.current, row.d1_30, row.d31_60, row.d61_90, row.d90_plus] == [
        Decimal("70"), Decimal("30"), Decimal("100"), Decimal("0"), Decimal("0")]
    assert row.unallocated_cash == Decimal("0")  # the payment was received later


def test_allocations_and_credit_notes_count_from_the_day_they_were_made(book):
    cust, inv = book
    report = aged_receivables(TODAY - dt.timedelta(days=4))
    (row,) = [r for r in report.rows if r.customer_id == cust.pk]
    assert row.d90_plus == Decimal("60") and row.d31_60 == Decimal("70")  # credit note came a day later


def test_credits_column_and_customers_with_cash_only():
    cash_only = customer(name="Cash Only")
    payment_top_up(payment=payment(cash_only, "80"), amount="30", actor=SYSTEM)
    report = aged_receivables(TODAY)
    (row,) = [r for r in report.rows if r.customer_id == cash_only.pk]
    assert row.total == 0 and row.unallocated_cash == Decimal("50") and row.credits == Decimal("30")


def test_page_and_csv(finance_client, book):
    cust, _ = book
    url = reverse("finance:aged-receivables")
    page = finance_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Aged Co" in body and "Total SGD" in body and "210.00" in body
    response = finance_client.get(url + f"?as_of={TODAY.isoformat()}&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:8] == ["customer_code", "customer", "currency", "current", "1-30", "31-60", "61-90", "90+"]
    mine = next(r for r in rows if r[0] == cust.code)
    assert [Decimal(v) for v in mine[3:9]] == [Decimal(v) for v in ("50", "20", "50", "30", "60", "210")]
    assert rows[-1][0] == "TOTAL"


def test_constant_number_of_queries(finance_client, django_assert_max_num_queries):
    for n in range(12):
        cust = customer(name=f"Many {n}")
        _invoice(cust, "10", issued_ago=40, due_ago=35)
        payment(cust, "5")
    with django_assert_max_num_queries(12):
        response = finance_client.get(reverse("finance:aged-receivables"))
    assert response.status_code == 200 and response.content.decode().count("Many ") >= 12
