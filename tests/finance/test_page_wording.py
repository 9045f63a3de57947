"""Issue 23, defect 9 on the finance pages: an allocation's refusal is shown once; the Un-assign button says
something sensible when no assignment change is left; a zero figure is neutral (not a green CR); amount
inputs are prefilled as money (1000.00), not as the database's 1000.000000, while the parser still takes up
to 6 decimals."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from django.urls import reverse

from customers.money import AmountField
from finance.models import Allocation
from finance.services.payments import payment_assign, payment_unassign
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db


def test_an_allocation_refusal_is_shown_once(finance_client):
    cust = customer()
    inv = purchase_invoice(cust, "40")
    pay = payment(cust, "100")
    response = finance_client.post(reverse("finance:payment-allocate", args=[pay.pk]),
                                   {"invoice": [inv.pk], f"amount-{inv.pk}": "45"})
    html = response.content.decode()
    assert html.count("has only 40.00 outstanding") == 1
    assert not Allocation.objects.exists()


def _used_up(cust):
    """A payment assigned to `cust` with all 5 assignment changes used."""
    pay = payment(cust, "10")  # 1
    for _ in range(2):
        payment_unassign(payment=pay, actor=SYSTEM)
        payment_assign(payment=pay, customer=cust, actor=SYSTEM)
    pay.refresh_from_db()
    assert pay.assignment_changes_left == 0 and pay.customer_id == cust.pk
    return pay


def test_with_no_assignment_change_left_un_assign_says_why_and_offers_nothing(finance_client):
    cust = customer(name="Initech")
    pay = _used_up(cust)
    html = finance_client.get(reverse("finance:payment-assign", args=[pay.pk])).content.decode()
    assert "0 assignment changes left" not in html and "of the 0" not in html
    assert "All 5 assignment changes are used: this payment stays with Initech." in html
    assert re.search(r'<button type="button" class="btn btn-danger" id="unassign-button" disabled', html)
    assert reverse("finance:payment-unassign", args=[pay.pk]) not in html  # no form to send
    detail = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
    assert "No assignment change left (all 5 used)" in detail


def test_the_last_assignment_change_is_named_as_such(finance_client):
    cust = customer()
    pay = payment(cust, "10")
    for _ in range(1):
        payment_unassign(payment=pay, actor=SYSTEM)
        payment_assign(payment=pay, customer=cust, actor=SYSTEM)
    payment_unassign(payment=pay, actor=SYSTEM)
    pay.refresh_from_db()
    assert pay.assignment_changes_left == 1
    html = finance_client.get(reverse("finance:payment-assign", args=[pay.pk])).content.decode()
    assert "1 of 5 assignment changes left" in html
    assert "This uses the last assignment change: it cannot be un-assigned afterwards." in html


def test_a_zero_figure_is_neutral(finance_client):
    cust = customer()
    pay = payment(cust, "100")
    html = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
    # Expecting invoice is 0: no colour, no CR; the amount due is a real CR.
    assert '<span class="amount zero">0.00 SGD</span>' in html
    assert '<span class="amount cr">0.00 SGD <b>CR</b></span>' not in html
    assert '<span class="amount cr">100.00 SGD <b>CR</b></span>' in html


def test_amount_inputs_are_prefilled_as_money(finance_client):
    cust = customer()
    inv = purchase_invoice(cust, "1000")
    pay = payment(cust, "1500")
    allocate = finance_client.get(reverse("finance:payment-allocate", args=[pay.pk])).content.decode()
    assert f'name="amount-{inv.pk}" value="1000.00"' in allocate and "000000" not in allocate
    detail = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
    assert 'name="amount" value="1500.00"' in detail  # the top-up form: the unallocated amount
    on_invoice = finance_client.get(reverse("finance:invoice-payment", args=[inv.pk])).content.decode()
    assert 'name="amount" value="1000.00"' in on_invoice
    note = finance_client.get(reverse("finance:credit-note-create"), {"invoice": inv.pk}).content.decode()
    assert 'name="amount" value="1000.00"' in note


def test_an_amount_input_shows_more_decimals_only_when_the_value_has_them_and_takes_six():
    field = AmountField()
    assert field.prepare_value(D("1000.000000")) == "1000.00"
    assert field.prepare_value(D("65.979991")) == "65.979991"
    assert field.prepare_value("1,000.5") == "1,000.5"  # what was typed is shown back as typed
    assert field.clean("12.345678") == D("12.345678")


class TestFiguresVocabulary:
    """The payment page's extra figures in the seed's words, explained; usable credits coloured like the
    others; the aged receivables' credits column says it is after unbilled usage."""

    def test_the_payment_page_names_and_explains_its_extra_figures(self, finance_client):
        cust = customer(name="Initech")
        pay = payment(cust, "100")
        html = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
        assert "Credit balance" not in html and "Unallocated cash" not in html
        assert "<dt>Unallocated payments</dt>" in html and "<dt>Credits held</dt>" in html
        assert "not yet allocated to an invoice or turned into credits. Already counted in the amount due." in html
        assert "the credit limit is not included" in html
        position = html[html.index('id="payment-position"'):]
        assert '<dd data-figure="unallocated-payments"><span class="amount cr">100.00 SGD <b>CR</b></span>' in position
        assert '<dd data-figure="credits-held"><span class="amount zero">0.00 SGD</span>' in position

    def test_usable_credits_are_coloured_like_the_other_figures(self, finance_client):
        cust = customer(credit_limit="50")
        pay = payment(cust, "100")
        html = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
        assert '<dt>Usable credits</dt><dd><span class="amount cr">150.00 SGD <b>CR</b></span></dd>' in html
        inv = purchase_invoice(cust, "40")
        preview = finance_client.get(reverse("finance:payment-allocate-preview", args=[pay.pk]),
                                     {"invoice": [inv.pk], f"amount-{inv.pk}": "40"}).content.decode()
        usable = preview[preview.index("<td>Usable credits</td>"):]
        assert usable.startswith('<td>Usable credits</td><td class="num"><span class="amount cr">')

    def test_the_aged_receivables_credits_column_says_it_is_after_unbilled_usage(self, finance_client):
        from customers.models import InvoiceSetup, TransactionKind
        from tests.customers.factories import ledger_post

        cust = customer(InvoiceSetup.CONSOLIDATED, credit_limit="100", name="Usage Heavy")
        monthly = purchase_invoice(customer(name="Owing Co"), "10")  # someone with an open invoice, listed
        ledger_post(cust, TransactionKind.CALL, "-12.5")
        payment(cust, "5")  # listed through its unallocated payment
        html = finance_client.get(reverse("finance:aged-receivables")).content.decode()
        assert "Unallocated cash" not in html and '<th class="num wrap">Unallocated payments</th>' in html
        assert "Credits held, after unbilled usage</th>" in html
        row = html[html.index('<tr data-customer="' + cust.code + '">'):]
        row = row[:row.index("</tr>")]
        assert '<span class="amount dr">-12.50  <b>DR</b></span>' in row
        assert monthly.customer.code in html
