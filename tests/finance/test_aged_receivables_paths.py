"""Aged receivables as of today is read from the view finance_agedreceivable, which its refresh computes from
the open invoices' cached amounts (aged_receivables_view); any other day is rebuilt from the rows
(aged_receivables_history). For today both must give exactly the same rows and totals, on a book with every
state an invoice or a payment can be in, with the filters, and page by page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import InvoiceSetup, TransactionKind
from finance.models import Allocation
from finance.receivables.selectors import aged_receivables, aged_receivables_history, aged_receivables_view
from finance.services.aged_receivables import aged_receivables_refresh
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.billing import PAYMENT_CASH
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import payment_delete
from finance.services.top_ups import payment_top_up
from invoices.models import CreditApplication, CreditSource, InvoiceStatus
from invoices.services.billing import bill_customer_period
from invoices.services.lifecycle import invoice_void
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
DAY = dt.timedelta(days=1)


def _at(days_ago: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(TODAY - days_ago * DAY, dt.time(10)))


def _invoice(cust, total, *, issued_ago: int, due_ago: int):
    return purchase_invoice(cust, total, issue_date=TODAY - issued_ago * DAY, due_date=TODAY - due_ago * DAY,
                            at=_at(issued_ago))


def from_the_view(day, **filters):
    """Today's report as the page reads it: from the view, refreshed now."""
    aged_receivables_refresh()
    return aged_receivables_view(day, **filters)


def _billed_with_credit(name: str):
    """A consolidated customer whose monthly invoice the billing run paid in part with its top-up credit and an
    account credit note (CreditApplication rows) and with a payment's cash (a finance allocation)."""
    cust = customer(InvoiceSetup.CONSOLIDATED, name=name)
    month = (TODAY.replace(day=1) - 40 * DAY).replace(day=1)
    payment_top_up(payment=payment(cust, "30", received_date=month), amount="30", actor=SYSTEM, at=_at(60))
    credit_note_issue(customer=cust, amount="5", reason="goodwill", actor=SYSTEM, at=_at(59))
    cash = payment(cust, "20", received_date=month)
    ledger_post(cust, TransactionKind.CALL, "-100", at=timezone.make_aware(
        dt.datetime.combine(month + 3 * DAY, dt.time(10))))
    run_at = timezone.make_aware(dt.datetime.combine((month + 32 * DAY).replace(day=1), dt.time(2)))
    monthly = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=cust.pk, period=month, actor=SYSTEM,
                                   at=run_at, via_celery=False,
                                   send_email=False)
    assert monthly.status == InvoiceStatus.PARTIALLY_PAID
    assert set(CreditApplication.objects.filter(invoice=monthly).values_list("source", flat=True)) == {
        CreditSource.UNBILLED, CreditSource.AMOUNT_DUE}
    assert Allocation.objects.filter(invoice=monthly, payment=cash).exists()
    return cust


@pytest.fixture
def book():
    a = customer(name="alpha Traders")  # lower case: the order is by name, case-insensitive
    current = _invoice(a, "50", issued_ago=0, due_ago=-10)
    _invoice(a, "20", issued_ago=20, due_ago=10)  # 1-30
    credited = _invoice(a, "70", issued_ago=60, due_ago=45)  # 31-60
    _invoice(a, "30", issued_ago=80, due_ago=61)  # 61-90, on the boundary
    part_paid = _invoice(a, "100", issued_ago=100, due_ago=91)  # 90+, on the boundary
    paid = _invoice(a, "40", issued_ago=50, due_ago=40)
    cancelled = _invoice(a, "25", issued_ago=50, due_ago=30)  # a credit note for all of it: void
    _invoice(a, "12", issued_ago=5, due_ago=0)  # due today: current
    _invoice(a, "13", issued_ago=40, due_ago=1)  # 1-30, on the boundary
    pay = payment(a, "200", received_date=TODAY - 5 * DAY)
    payment_allocate(payment=pay, lines=[(part_paid.pk, "40"), (paid.pk, "40")], actor=SYSTEM, at=_at(5))
    (undone,) = payment_allocate(payment=pay, lines=[(current.pk, "10")], actor=SYSTEM, at=_at(4))
    allocation_reverse(allocation=undone, actor=SYSTEM, reason="wrong invoice", at=_at(3))
    credit_note_issue(customer=a, invoice=credited, amount="20", reason="discount", actor=SYSTEM, at=_at(3))
    credit_note_issue(customer=a, invoice=cancelled, amount="25", reason="cancelled", actor=SYSTEM, at=_at(3))
    top_up_invoice(a, "60")  # awaiting payment, but a deposit: never a receivable
    invoice_void(invoice_id=top_up_invoice(a, "10").pk, reason="not wanted", actor=SYSTEM)
    payment_allocate(payment=pay, lines=[(top_up_invoice(a, "30").pk, "30")], actor=SYSTEM)  # provisioned
    payment_top_up(payment=payment(a, "30"), amount="10", actor=SYSTEM)  # 20 of it still cash
    payment_delete(payment=payment(a, "15"), actor=SYSTEM, reason="duplicate")
    payment(None, "99", currency="SGD")  # unassigned: nobody's cash yet

    b = _billed_with_credit("Beta Holdings")
    usd = customer(name="Gamma Corp", currency="USD")
    _invoice(usd, "300", issued_ago=70, due_ago=65)
    cash_only = customer(name="delta Cash")
    payment(cash_only, "80")
    settled = customer(name="Epsilon Settled")
    inv = _invoice(settled, "60", issued_ago=10, due_ago=5)
    payment_allocate(payment=payment(settled, "60"), lines=[(inv.pk, "60")], actor=SYSTEM)
    paid_with_credits = customer(name="Zeta Credits")
    payment_top_up(payment=payment(paid_with_credits, "50"), amount="50", actor=SYSTEM)
    invoice_pay_with_credits(invoice=_invoice(paid_with_credits, "80", issued_ago=30, due_ago=20), amount="30",
                             actor=SYSTEM)
    return {"a": a, "b": b, "usd": usd, "cash_only": cash_only, "settled": settled}


@pytest.mark.parametrize("filters", [{}, {"currency": "USD"}, {"currency": "SGD"}, {"customer_q": "ALPHA"},
                                     {"customer_q": "nobody"}, {"bucket": "d90_plus"}, {"bucket": "d61_90"},
                                     {"bucket": "current", "currency": "SGD"}, {"bucket": "d1_30", "customer_q": "a"}])
def test_today_the_open_invoices_give_the_figures_the_history_gives(book, filters):
    history = aged_receivables_history(TODAY, **filters)
    fast = from_the_view(TODAY, **filters)
    assert list(fast.rows) == history.rows
    assert fast.totals == history.totals
    assert len(fast.rows) == len(history.rows)


@pytest.mark.parametrize("bucket", ["current", "d1_30", "d31_60", "d61_90", "d90_plus"])
def test_a_bucket_keeps_only_the_customers_with_money_in_it_and_totals_them(book, bucket):
    every = aged_receivables_history(TODAY).rows
    chosen = from_the_view(TODAY, bucket=bucket)
    assert list(chosen.rows) == [r for r in every if getattr(r, bucket) > 0] != []
    assert sum(t[bucket] for t in chosen.totals.values()) == sum(getattr(r, bucket) for r in every)


def test_a_later_day_too_every_invoice_further_overdue(book):
    """As of a later day nothing has happened since today either: rebuilt from the rows, buckets moved."""
    later = TODAY + 40 * DAY
    history, fast = aged_receivables_history(later), aged_receivables(later)
    assert list(fast.rows) == history.rows and fast.totals == history.totals
    assert history.totals["SGD"]["current"] == 0  # everything due in ten days at most is overdue by then


def test_the_book_has_every_bucket_and_each_kind_of_customer(book):
    rows = {r.customer_id: r for r in from_the_view(TODAY).rows}
    a = rows[book["a"].pk]
    assert [a.current, a.d1_30, a.d31_60, a.d61_90, a.d90_plus] == [Decimal(v) for v in ("62", "33", "50", "30", "60")]
    assert a.unallocated_cash == Decimal("20") + Decimal("200") - 40 - 40 - 30
    assert rows[book["b"].pk].total == Decimal("54")  # 109 (9 % tax) less 30 + 5 of credit and 20 of cash
    assert rows[book["usd"].pk].currency == "USD" and rows[book["usd"].pk].d61_90 == Decimal("300")
    assert rows[book["cash_only"].pk].total == 0 and rows[book["cash_only"].pk].unallocated_cash == Decimal("80")
    assert book["settled"].pk not in rows
    assert [r.name for r in from_the_view(TODAY).rows][:2] == ["alpha Traders", "Beta Holdings"]


def test_a_page_at_a_time_with_the_totals_over_every_customer(book):
    for n in range(30):
        _invoice(customer(name=f"Many {n:02}"), "10", issued_ago=40, due_ago=35)
    history = aged_receivables_history(TODAY)
    fast = from_the_view(TODAY, window=(25, 25))
    # a page: every total over all the customers, the credits one too (the page leaves it out, the CSV has it)
    assert {cur: t["credits"] for cur, t in fast.totals.items()} == {cur: t["credits"] for cur, t in
                                                                     history.totals.items()}
    assert history.totals == fast.totals and len(fast.rows) == len(history.rows) == 35
    assert from_the_view(TODAY).totals == history.totals  # the whole report: the credits total too
    assert fast.rows[25:35] == history.rows[25:35]  # the window fetched with the totals
    assert fast.rows[3:7] == history.rows[3:7]  # any other slice: one more query
    assert fast.rows[0] == history.rows[0] and fast.rows[-1] == history.rows[-1]


def test_today_is_two_queries_and_a_past_day_is_rebuilt(book, django_assert_num_queries):
    rebuilt = aged_receivables(TODAY)  # the view never refreshed: today rebuilt from the rows
    assert isinstance(rebuilt.rows, list) and rebuilt.refreshed_at is None
    refreshed_at = aged_receivables_refresh()
    with django_assert_num_queries(2):  # is the view filled; then the totals and the page's rows
        report = aged_receivables(TODAY, window=(0, 25))
        assert len(report.rows) == 5
        assert [r.name for r in report.rows[0:5]] == ["alpha Traders", "Beta Holdings", "delta Cash", "Gamma Corp",
                                                      "Zeta Credits"]
    assert report.refreshed_at == refreshed_at and list(report.rows) == rebuilt.rows
    tomorrow = aged_receivables(TODAY + DAY)  # the view holds today only
    assert isinstance(tomorrow.rows, list) and tomorrow.rows == aged_receivables_history(TODAY + DAY).rows
    past = aged_receivables(TODAY - DAY)
    assert isinstance(past.rows, list)
    # yesterday: the invoice issued today did not exist, and every other one was a day less overdue
    (a,) = [r for r in past.rows if r.customer_id == book["a"].pk]
    assert [a.current, a.d1_30, a.d31_60, a.d61_90, a.d90_plus] == [Decimal(v) for v in ("25", "20", "80", "60", "0")]


def test_the_page_shows_the_second_page_and_the_totals(finance_client, book):
    for n in range(30):
        _invoice(customer(name=f"Many {n:02}"), "10", issued_ago=40, due_ago=35)
    aged_receivables_refresh()  # the page reads the view
    url = reverse("finance:aged-receivables")
    body = finance_client.get(url + "?page=2").content.decode()
    # page 1: alpha, Beta, delta, Gamma, Many 00-20; page 2: Many 21-29, Zeta
    assert "Many 21" in body and "Zeta Credits" in body and "Many 20" not in body and "alpha Traders" not in body
    assert "Total USD" in body and "Total SGD" in body
    body = finance_client.get(url + "?page=99").content.decode()  # past the end: the last page
    assert "Many 21" in body and "Many 20" not in body
    csv = b"".join(finance_client.get(url + "?format=csv").streaming_content).decode()
    assert csv.count("\n") == 1 + 35 + 2  # header, every customer, a total per currency


@pytest.mark.parametrize("filters", [{}, {"currency": "SGD"}, {"currency": "USD"}])
def test_an_invoice_issued_ahead_of_the_day_is_not_owed_on_it(book, filters):
    """An open invoice dated after the day (an issue date set ahead) is neither counted nor listed: a customer
    whose every open invoice is ahead drops out of the count, one with cash or another invoice stays."""
    only_ahead = customer(name="Eta Ahead")
    _invoice(only_ahead, "45", issued_ago=-3, due_ago=-20)
    ahead_and_owing = customer(name="Theta Both")
    _invoice(ahead_and_owing, "15", issued_ago=-2, due_ago=-30)
    _invoice(ahead_and_owing, "25", issued_ago=10, due_ago=2)
    ahead_with_cash = customer(name="Iota Cash")
    _invoice(ahead_with_cash, "35", issued_ago=-1, due_ago=-15)
    payment(ahead_with_cash, "5")

    history = aged_receivables_history(TODAY, **filters)
    fast = from_the_view(TODAY, **filters)
    assert list(fast.rows) == history.rows and fast.totals == history.totals
    assert len(fast.rows) == len(history.rows)
    names = {row.name for row in history.rows}
    if filters.get("currency") != "USD":
        assert {"Theta Both", "Iota Cash"} <= names and "Eta Ahead" not in names
        page = from_the_view(TODAY, window=(0, 2), **filters)
        assert len(page.rows) == len(history.rows)  # the count, from the page's query, leaves Eta out too
    assert aged_receivables(TODAY + 5 * DAY, **filters).totals == aged_receivables_history(TODAY + 5 * DAY,
                                                                                           **filters).totals


def test_the_report_pages_in_name_order():
    names = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    for name in names:
        _invoice(customer(name=name), "10", issued_ago=3, due_ago=1)
    report = from_the_view(TODAY, window=(1, 2))
    assert len(report.rows) == 5 and [r.name for r in report.rows[1:3]] == ["Bravo", "charlie"]
    assert [r.name for r in report.rows] == ["Alpha", "Bravo", "charlie", "delta", "echo"]


def test_today_stays_as_of_the_refresh_until_the_next_one(book):
    first = aged_receivables_refresh()
    late = customer(name="Late Co")
    _invoice(late, "15", issued_ago=1, due_ago=0)
    report = aged_receivables(TODAY)
    assert report.refreshed_at == first and late.pk not in {r.customer_id for r in report.rows}
    assert aged_receivables_refresh() >= first
    assert late.pk in {r.customer_id for r in aged_receivables(TODAY).rows}
    assert aged_receivables(TODAY).totals == aged_receivables_history(TODAY).totals


def test_the_page_says_as_of_when_and_refreshes_on_demand(viewer_client, book):
    """A viewer (view permissions only) may refresh: it changes no data."""
    url = reverse("finance:aged-receivables")
    body = viewer_client.get(url).content.decode()
    assert "Figures as of now, computed from every invoice and payment" in body and "Refresh now" in body
    late = customer(name="Late Co")
    _invoice(late, "15", issued_ago=1, due_ago=0)
    response = viewer_client.post(reverse("finance:aged-receivables-refresh"), {"q": "late", "currency": "sgd"})
    assert response.status_code == 302 and response["Location"] == url + "?q=late&currency=SGD"
    body = viewer_client.get(response["Location"]).content.decode()
    refreshed_at = timezone.localtime(aged_receivables(TODAY).refreshed_at)  # the one time format (issue 23)
    assert f"Figures as of {refreshed_at:%Y-%m-%d %H:%M:%S} +08:00" in body and "Late Co" in body and "alpha Traders" not in body
    assert "Refresh now" not in viewer_client.get(url + f"?as_of={(TODAY - DAY).isoformat()}").content.decode()
    assert viewer_client.get(reverse("finance:aged-receivables-refresh")).status_code == 405


def test_the_page_reads_the_view_in_a_constant_number_of_queries(finance_client, django_assert_max_num_queries):
    for n in range(12):
        _invoice(customer(name=f"Many {n}"), "10", issued_ago=40, due_ago=35)
    aged_receivables_refresh()
    with django_assert_max_num_queries(8):
        response = finance_client.get(reverse("finance:aged-receivables"))
    assert response.status_code == 200 and response.content.decode().count("Many ") >= 12


def test_the_beat_task_refreshes_the_view(book):
    from finance.tasks import refresh_aged_receivables

    assert aged_receivables(TODAY).refreshed_at is None
    refreshed_at = refresh_aged_receivables()
    assert aged_receivables(TODAY).refreshed_at.isoformat() == refreshed_at
