"""The one-time form tokens (issue 23, defect 8): every page form that moves money carries one, a second POST
with it creates nothing and is sent to the first one's result, and two identical POSTs at the same moment make
one payment (threads against PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from common.form_tokens import REPLAYED, REPLAYED_CHANGED
from common.models import IdempotencyRecord
from customers.models import MasterWalletEntry, Transaction, TransactionKind
from finance.models import Allocation, CreditNote, Payment, TopUp, Withdrawal
from finance.services.allocation import payment_allocate
from finance.services.top_ups import payment_top_up
from invoices.models import Invoice
from tests.customers.factories import funded_wallet, ledger_post, postpaid
from tests.factories import finance_user
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice
from tests.threads import run_calls

TOKEN = re.compile(r'<input type="hidden" name="form_token" value="([^"]+)">')
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def token_on(response) -> str:
    """The token of the page's (first) form: the page must carry one."""
    found = TOKEN.findall(response.content.decode())
    assert found, "the form carries no one-time token"
    assert len(set(found)) == len(found), "two forms of one page share a token"
    return found[0]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def twice(client, page_url: str, post_url: str, data: dict, counted) -> tuple:
    """Post the page's form twice with its token: the second POST changes nothing and goes where the first
    went, saying so."""
    token = token_on(client.get(page_url))
    first = client.post(post_url, {**data, "form_token": token})
    assert first.status_code in (302, 303), first.content.decode()[:2000]
    after_first = counted()
    second = client.post(post_url, {**data, "form_token": token})
    assert second.status_code == first.status_code
    assert second["Location"] == first["Location"]
    assert counted() == after_first
    assert REPLAYED in messages_of(second)
    return after_first, first


pytestmark = pytest.mark.django_db


class TestStaffForms:
    def test_new_payment(self, finance_client):
        acme = customer()
        url = reverse("finance:payment-create")
        data = {"customer": acme.pk, "amount": "100", "currency": "SGD", "received_date": "2026-03-01",
                "method": "bank_transfer"}
        count, first = twice(finance_client, url, url, data, Payment.objects.count)
        assert count == 1 and first["Location"] == reverse("finance:payment-detail", args=[Payment.objects.get().pk])

    def test_a_new_token_records_another_payment(self, finance_client):
        url = reverse("finance:payment-create")
        data = {"amount": "100", "currency": "SGD", "received_date": "2026-03-01", "method": "bank_transfer"}
        for _ in range(2):
            finance_client.post(url, {**data, "form_token": token_on(finance_client.get(url))})
        assert Payment.objects.count() == 2

    def test_the_same_token_with_other_values_changes_nothing_and_says_so(self, finance_client):
        url = reverse("finance:payment-create")
        token = token_on(finance_client.get(url))
        data = {"amount": "100", "currency": "SGD", "received_date": "2026-03-01", "method": "bank_transfer"}
        first = finance_client.post(url, {**data, "form_token": token})
        second = finance_client.post(url, {**data, "amount": "200", "form_token": token})
        assert second["Location"] == first["Location"] and REPLAYED_CHANGED in messages_of(second)
        assert [p.amount for p in Payment.objects.all()] == [D("100")]

    def test_a_refusal_keeps_the_token_free(self, finance_client):
        acme = customer(currency="USD")
        url = reverse("finance:payment-create")
        token = token_on(finance_client.get(url))
        data = {"customer": acme.pk, "amount": "100", "received_date": "2026-03-01", "method": "bank_transfer"}
        refused = finance_client.post(url, {**data, "currency": "SGD", "form_token": token})
        assert refused.status_code == 200 and not Payment.objects.exists()
        assert not IdempotencyRecord.objects.exists()
        fixed = finance_client.post(url, {**data, "currency": "USD", "form_token": token})
        assert fixed.status_code == 302 and Payment.objects.get().currency == "USD"

    def test_edit_payment(self, finance_client):
        pay = payment(customer(), "100")
        url = reverse("finance:payment-edit", args=[pay.pk])
        data = {"amount": "120", "currency": "SGD", "received_date": "2026-03-01", "method": "cash"}
        edits = AuditEvent.objects.filter(action="finance.payment.update").count
        assert twice(finance_client, url, url, data, edits)[0] == 1

    def test_assign_and_un_assign(self, finance_client):
        acme = customer()
        pay = payment(None, "100")
        url = reverse("finance:payment-assign", args=[pay.pk])

        def changes():
            pay.refresh_from_db()
            return pay.assignment_changes
        assert twice(finance_client, url, url, {"customer": acme.pk}, changes)[0] == 1
        unassign = reverse("finance:payment-unassign", args=[pay.pk])
        assert twice(finance_client, url, unassign, {}, changes)[0] == 2
        pay.refresh_from_db()
        assert pay.customer_id is None

    def test_top_up_payment(self, finance_client):
        pay = payment(customer(), "100")
        url = reverse("finance:payment-detail", args=[pay.pk])
        post = reverse("finance:payment-top-up", args=[pay.pk])
        assert twice(finance_client, url, post, {"amount": "30"}, TopUp.objects.count)[0] == 1

    def test_allocate(self, finance_client):
        acme = customer()
        pay, inv = payment(acme, "100"), purchase_invoice(acme, "40")
        url = reverse("finance:payment-allocate", args=[pay.pk])
        data = {"invoice": [inv.pk], f"amount-{inv.pk}": "40"}
        assert twice(finance_client, url, url, data, Allocation.objects.count)[0] == 1

    def test_invoice_page_payment(self, finance_client):
        acme = customer()
        pay, inv = payment(acme, "100"), purchase_invoice(acme, "40")
        url = reverse("finance:invoice-payment", args=[inv.pk])
        data = {"payment": pay.pk, "amount": "15"}
        assert twice(finance_client, url, url, data, Allocation.objects.count)[0] == 1

    def test_undo_an_allocation_and_remove_a_top_up(self, finance_client):
        acme = customer()
        pay, inv = payment(acme, "100"), purchase_invoice(acme, "40")
        allocation = payment_allocate(payment=pay, lines=[(inv.pk, "40")], actor=SYSTEM)[0]
        top = payment_top_up(payment=pay, amount=D("10"), actor=SYSTEM)
        url = reverse("finance:payment-detail", args=[pay.pk])
        undone = AuditEvent.objects.filter(action="finance.allocation.reverse").count
        assert twice(finance_client, url, reverse("finance:allocation-reverse", args=[allocation.pk]), {},
                     undone)[0] == 1
        removed = AuditEvent.objects.filter(action="finance.top_up.remove").count
        assert twice(finance_client, url, reverse("finance:top-up-remove", args=[top.pk]), {}, removed)[0] == 1

    def test_credit_note(self, finance_client):
        acme = customer()
        url = reverse("finance:credit-note-create")
        data = {"customer": acme.pk, "amount": "10", "reason": "Goodwill", "issue_date": "2026-03-01"}
        assert twice(finance_client, url, url, data, CreditNote.objects.count)[0] == 1

    def test_withdrawal(self, finance_client):
        acme = customer()
        payment_top_up(payment=payment(acme, "100"), amount=D("100"), actor=SYSTEM)
        url = reverse("finance:withdrawal-create")
        data = {"customer": acme.pk, "amount": "10", "method": "bank_transfer", "paid_date": "2026-03-01"}
        assert twice(finance_client, url, url, data, Withdrawal.objects.count)[0] == 1

    def test_top_up_and_purchase_invoices(self, finance_client):
        acme = customer()
        url = reverse("invoices:create-top-up")
        assert twice(finance_client, url, url, {"customer": acme.code, "amount": "100"}, Invoice.objects.count)[0] == 1
        url = reverse("invoices:create-purchase")
        data = {"customer": acme.code, "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
                "lines-0-description": "Seats", "lines-0-quantity": "1", "lines-0-unit_price": "10",
                "lines-0-tax_rate": "0", "lines-0-kind": "service"}
        assert twice(finance_client, url, url, data, Invoice.objects.count)[0] == 2

    def test_adjustment_transfer_and_master_wallet_funding(self, finance_client):
        acme = postpaid("100")
        call = ledger_post(acme, TransactionKind.CALL, "-7")
        url = reverse("customers:adjust", args=[acme.pk])
        assert twice(finance_client, url, url, {"reverses": call.pk, "reason": "Wrong rate"},
                     Transaction.objects.count)[0] == 2
        wallet = funded_wallet("50")
        url = reverse("customers:transfer", args=[acme.pk])
        entries = MasterWalletEntry.objects.count
        assert twice(finance_client, url, url, {"amount": "20", "wallet": wallet.pk}, entries)[0] == 2
        url = reverse("customers:wallet", args=[wallet.pk])
        fund = reverse("customers:wallet-fund", args=[wallet.pk])
        assert twice(finance_client, url, fund, {"amount": "5", "reference": "TT 1"}, entries)[0] == 3


def test_tokens_are_per_user(finance_client):
    """Another user's token is a new key for this user (a token names no one else's result)."""
    url = reverse("finance:payment-create")
    data = {"amount": "100", "currency": "SGD", "received_date": "2026-03-01", "method": "bank_transfer",
            "form_token": "the-same-token"}
    finance_client.post(url, data)
    other = Client()
    other.force_login(finance_user(username="other"), backend=MODEL_BACKEND)
    other.post(url, data)
    assert Payment.objects.count() == 2


def test_a_top_up_invoice_allocated_twice_from_two_tabs_provisions_once(finance_client):
    """Two tabs of one form (two tokens): the rule, not the token, refuses the second (a top-up is paid once)."""
    acme = customer()
    pay, top = payment(acme, "300"), top_up_invoice(acme, "100")
    url = reverse("finance:invoice-payment", args=[top.pk])
    tokens = [token_on(finance_client.get(url)), token_on(finance_client.get(url))]
    for token in tokens:
        finance_client.post(url, {"payment": pay.pk, "amount": "100", "form_token": token})
    assert Allocation.objects.filter(invoice=top).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_identical_posts_at_once_record_one_payment():
    user = finance_user(username="twice")
    acme = customer()
    url = reverse("finance:payment-create")
    data = {"customer": acme.pk, "amount": "100", "currency": "SGD", "received_date": "2026-03-01",
            "method": "bank_transfer", "form_token": "one-click-two-posts"}

    def post():
        client = Client()
        client.force_login(user, backend=MODEL_BACKEND)
        response = client.post(url, data)
        return response.status_code, response["Location"]

    results = run_calls([post] * 4)
    assert not [r for r in results if isinstance(r, BaseException)], results
    payment_row = Payment.objects.get()
    assert set(results) == {(302, reverse("finance:payment-detail", args=[payment_row.pk]))}
    assert AuditEvent.objects.filter(action="finance.payment.record").count() == 1
    assert IdempotencyRecord.objects.filter(client=f"form:user:{user.pk}").count() == 1
    acme.refresh_from_db()
    assert acme.amount_due == D("100")


def test_the_hourly_purge_forgets_form_tokens_after_a_day(finance_client):
    from api.tasks import purge_idempotency_records

    url = reverse("finance:payment-create")
    finance_client.post(url, {"amount": "1", "currency": "SGD", "received_date": "2026-03-01",
                              "method": "cash", "form_token": "old"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert purge_idempotency_records() == 1


def test_send_send_again_and_void_act_once(finance_client):
    acme = customer(billing_email="ap@acme.example")
    draft = purchase_invoice(acme, "10", sent=False)
    url = reverse("invoices:detail", args=[draft.pk])
    sends = AuditEvent.objects.filter(action__in=["invoices.invoice.send", "invoices.invoice.resend"]).count
    assert twice(finance_client, url, reverse("invoices:send", args=[draft.pk]), {}, sends)[0] == 1
    assert twice(finance_client, url, reverse("invoices:send", args=[draft.pk]), {}, sends)[0] == 2  # send again
    top = top_up_invoice(acme, "50")
    url = reverse("invoices:detail", args=[top.pk])
    voids = AuditEvent.objects.filter(action="invoices.invoice.void").count
    assert twice(finance_client, url, reverse("invoices:void", args=[top.pk]), {"reason": "Wrong amount"},
                 voids)[0] == 1
