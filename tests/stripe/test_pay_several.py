"""Paying several invoices at once (issue 19, "Pay several invoices at once"): credits first, in one
transaction and one audit event when they cover them all; else one Checkout for the shortfall whose credit
then pays each invoice, oldest due first, exactly once, whoever fulfils it (the redirect or the webhook,
racing). An invoice paid meanwhile keeps its share as credit. Another customer's invoice, a monthly or
top-up invoice, a draft, void or paid one, no invoice and too many are refused with nothing changed. At
most one open Checkout per invoice holds across single and several-invoice payments (a database index)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from customers.models import Notification, Transaction, TransactionKind
from finance.cards.selectors import invoices_paid, left_as_credit, receipt
from finance.models import (
    Allocation,
    CardPayment,
    CardPaymentInvoice,
    CardPaymentInvoiceOutcome,
    CardPaymentPurpose,
    CardPaymentStatus,
)
from finance.selectors import credit_position
from finance.services.cards import (
    MAX_INVOICES,
    CardPaymentError,
    InvoiceAlreadyPaid,
    card_payment_cancel,
    card_payment_fulfil,
    card_top_up_start,
    invoice_self_pay_with_credits,
    invoices_self_pay_with_credits,
)
from invoices.models import Invoice, InvoiceStatus
from invoices.services import invoice_void
from tests.customers.factories import top_up
from tests.finance.factories import customer, monthly_invoice, purchase_invoice, top_up_invoice
from tests.stripe.helpers import CANCEL_URL, CUSTOMER, SUCCESS_URL, event_of, pay
from tests.stripe_fixtures import post_event
from tests.threads import run_threads

SYSTEM = Actor.system("tests")
TODAY = timezone.localdate()


def two_invoices(cust, first="60", second="50"):
    """Two sent purchase invoices; the second is due first (so "oldest due first" is not creation order)."""
    later = purchase_invoice(cust, first, due_date=TODAY + dt.timedelta(days=20))
    sooner = purchase_invoice(cust, second, due_date=TODAY + dt.timedelta(days=5))
    return later, sooner


def start_several(invoices, amount, **kwargs):
    return card_top_up_start(customer_id=invoices[0].customer_id, invoice_ids=[i.pk for i in invoices],
                             amount=Decimal(amount), actor=CUSTOMER, success_url=SUCCESS_URL,
                             cancel_url=CANCEL_URL, **kwargs)


def state(cust):
    """Everything a refused call must leave as it was."""
    return (list(Invoice.objects.filter(customer=cust).order_by("pk").values_list("pk", "status", "amount_paid")),
            Allocation.objects.filter(customer=cust).count(), AuditEvent.objects.count(),
            Transaction.objects.filter(customer=cust).count(), CardPayment.objects.count())


@pytest.mark.django_db
class TestPayWithCredits:
    def test_credits_that_cover_them_all_pay_each_in_one_audit_event(self, individual):
        top_up(individual, "200")
        later, sooner = two_invoices(individual)
        events = AuditEvent.objects.count()
        paid = invoices_self_pay_with_credits(invoice_ids=[later.pk, sooner.pk], customer_id=individual.pk,
                                              actor=CUSTOMER)
        assert [i.number for i in paid] == [sooner.number, later.number]  # oldest due first
        assert all(i.status == InvoiceStatus.PAID and i.amount_outstanding == 0 for i in paid)
        assert AuditEvent.objects.count() == events + 1
        event = AuditEvent.objects.latest("id")
        assert event.action == "finance.invoices.pay_with_credits"
        assert [(x["invoice"], Decimal(str(x["amount"]))) for x in event.after["invoices"]] == [
            (sooner.number, Decimal("50")), (later.number, Decimal("60"))]
        individual.refresh_from_db()
        assert credit_position(individual).available_for_invoices == Decimal("90")

    def test_duplicates_count_once(self, individual):
        top_up(individual, "200")
        later, sooner = two_invoices(individual)
        invoices_self_pay_with_credits(invoice_ids=[later.pk, sooner.pk, later.pk], customer_id=individual.pk,
                                       actor=CUSTOMER)
        individual.refresh_from_db()
        assert credit_position(individual).available_for_invoices == Decimal("90")

    def test_credits_that_fall_short_pay_nothing(self, individual):
        top_up(individual, "100")
        later, sooner = two_invoices(individual)
        before = state(individual)
        with pytest.raises(CardPaymentError, match="short of these invoices .* by 10.00"):
            invoices_self_pay_with_credits(invoice_ids=[later.pk, sooner.pk], customer_id=individual.pk,
                                           actor=CUSTOMER)
        assert state(individual) == before

    def test_an_invoice_paid_meanwhile_refuses_the_lot(self, individual):
        top_up(individual, "200")
        later, sooner = two_invoices(individual)
        invoice_self_pay_with_credits(invoice_id=sooner.pk, customer_id=individual.pk, actor=CUSTOMER)
        before = state(individual)
        with pytest.raises(InvoiceAlreadyPaid, match=f"{sooner.number} is already paid"):
            invoices_self_pay_with_credits(invoice_ids=[later.pk, sooner.pk], customer_id=individual.pk,
                                           actor=CUSTOMER)
        assert state(individual) == before

    @pytest.mark.parametrize("kind", ["foreign", "monthly", "top-up", "draft", "void", "missing"])
    def test_ineligible_invoices_are_refused_and_nothing_changes(self, individual, kind):
        top_up(individual, "500")
        good = purchase_invoice(individual, "40")
        if kind == "foreign":
            other = customer(name="Globex", code="GLOBEX")
            top_up(other, "500")
            bad_id = purchase_invoice(other, "30").pk
        elif kind == "monthly":
            bad_id = monthly_invoice(individual, "30").pk
        elif kind == "top-up":
            bad_id = top_up_invoice(individual, "30").pk
        elif kind == "draft":
            bad_id = purchase_invoice(individual, "30", sent=False).pk
        elif kind == "void":
            draft = purchase_invoice(individual, "30", sent=False)
            bad_id = invoice_void(invoice_id=draft.pk, reason="typo", actor=SYSTEM).pk
        else:
            bad_id = 10**12
        before = state(individual)
        foreign_before = state(Invoice.objects.get(pk=bad_id).customer) if kind == "foreign" else None
        with pytest.raises(CardPaymentError):
            invoices_self_pay_with_credits(invoice_ids=[good.pk, bad_id], customer_id=individual.pk, actor=CUSTOMER)
        assert state(individual) == before
        if foreign_before:
            assert state(Invoice.objects.get(pk=bad_id).customer) == foreign_before

    def test_no_invoice_and_too_many_are_refused(self, individual):
        with pytest.raises(CardPaymentError, match="at least one"):
            invoices_self_pay_with_credits(invoice_ids=[], customer_id=individual.pk, actor=CUSTOMER)
        with pytest.raises(CardPaymentError, match=f"at most {MAX_INVOICES}"):
            invoices_self_pay_with_credits(invoice_ids=range(1, MAX_INVOICES + 2), customer_id=individual.pk,
                                           actor=CUSTOMER)


@pytest.mark.django_db
class TestPayByCard:
    def test_one_checkout_for_the_shortfall_with_a_link_per_invoice(self, fake_stripe, individual):
        top_up(individual, "30")
        later, sooner = two_invoices(individual)
        payment = start_several([later, sooner], "80")
        assert payment.purpose == CardPaymentPurpose.INVOICES and payment.invoice_id is None
        assert payment.amount == Decimal("80") and payment.amount_charged == Decimal("80")
        links = CardPaymentInvoice.objects.filter(card_payment=payment).order_by("invoice_id")
        assert [(link.invoice_id, link.amount, link.open) for link in links] == [
            (later.pk, Decimal("60"), True), (sooner.pk, Decimal("50"), True)]
        assert fake_stripe.get(payment.checkout_session_id)["amount_total"] == 8000
        again = start_several([sooner, later], "80")  # a second click: the same open session
        assert again.pk == payment.pk

    def test_less_than_the_shortfall_and_credits_that_cover_them_are_refused(self, fake_stripe, individual):
        top_up(individual, "30")
        later, sooner = two_invoices(individual)
        with pytest.raises(CardPaymentError, match="at least the shortfall of 80.00"):
            start_several([later, sooner], "79.99")
        top_up(individual, "100")
        with pytest.raises(CardPaymentError, match="already cover these invoices"):
            start_several([later, sooner], "10")
        assert CardPayment.objects.count() == 0

    def test_fulfilment_pays_each_invoice_oldest_due_first(self, fake_stripe, individual):
        top_up(individual, "30")
        later, sooner = two_invoices(individual)
        payment = start_several([later, sooner], "80")
        pay(fake_stripe, payment)
        events = AuditEvent.objects.count()
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        payment.refresh_from_db()
        later.refresh_from_db()
        sooner.refresh_from_db()
        assert later.status == sooner.status == InvoiceStatus.PAID
        assert payment.status == CardPaymentStatus.SUCCEEDED
        assert payment.invoice_outcome == CardPaymentInvoiceOutcome.PAID
        assert not CardPaymentInvoice.objects.filter(card_payment=payment, open=True).exists()
        assert [(x.number, x.paid, x.amount) for x in invoices_paid(payment)] == [
            (sooner.number, True, Decimal("50")), (later.number, True, Decimal("60"))]
        assert AuditEvent.objects.count() == events + 1  # the fulfil event, with each invoice in it
        event = AuditEvent.objects.latest("id")
        assert event.action == "finance.card_payment.fulfil"
        assert [x["invoice"] for x in event.after["invoices"]] == [sooner.number, later.number]
        individual.refresh_from_db()
        assert credit_position(individual).available_for_invoices == Decimal("0")
        shown = receipt(payment)
        assert shown.description == "Card payment for 2 invoices" and shown.credit_note == ""
        assert [line.number for line in shown.invoices] == [sooner.number, later.number]
        email = Notification.objects.get(source_type="finance.cardpayment", source_id=payment.pk)
        assert f"- Invoice {sooner.number}: paid 50.00 SGD" in email.body
        assert f"- Invoice {later.number}: paid 60.00 SGD" in email.body

    def test_an_invoice_paid_meanwhile_keeps_its_share_as_credit(self, fake_stripe, individual):
        top_up(individual, "30")
        later, sooner = two_invoices(individual)
        payment = start_several([later, sooner], "80")
        top_up(individual, "20")  # another tab: more credits, then the sooner invoice paid with them
        invoice_self_pay_with_credits(invoice_id=sooner.pk, customer_id=individual.pk, actor=CUSTOMER)
        pay(fake_stripe, payment)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        payment.refresh_from_db()
        later.refresh_from_db()
        assert later.status == InvoiceStatus.PAID
        assert payment.invoice_outcome == CardPaymentInvoiceOutcome.KEPT_AS_CREDIT
        lines = invoices_paid(payment)
        assert [(x.number, x.paid) for x in lines] == [(sooner.number, False), (later.number, True)]
        assert left_as_credit(payment, lines) == Decimal("20")
        individual.refresh_from_db()
        assert credit_position(individual).available_for_invoices == Decimal("20")  # 30 + 20 + 80 - 50 - 60
        shown = receipt(payment)
        assert f"Invoice {sooner.number} was already paid; its share stays as credit" in shown.credit_note
        assert "20.00 SGD of this payment stays as credit" in shown.credit_note


@pytest.mark.django_db
class TestOneOpenCheckoutAcrossSingleAndSeveral:
    def test_paying_one_of_them_alone_expires_the_several_invoice_checkout_first(self, fake_stripe, individual):
        later, sooner = two_invoices(individual)
        several = start_several([later, sooner], "110")
        single = card_top_up_start(customer_id=individual.pk, invoice_id=sooner.pk, amount=Decimal("50"),
                                   actor=CUSTOMER, success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
        several.refresh_from_db()
        assert several.status == CardPaymentStatus.EXPIRED
        assert fake_stripe.get(several.checkout_session_id)["status"] == "expired"
        assert list(CardPaymentInvoice.objects.filter(open=True).values_list("card_payment_id", "invoice_id")) == [
            (single.pk, sooner.pk)]
        again = start_several([later, sooner], "110")  # and back: the single one is expired in turn
        single.refresh_from_db()
        assert single.status == CardPaymentStatus.EXPIRED and again.status == CardPaymentStatus.PENDING

    def test_a_cancelled_several_invoice_checkout_frees_its_invoices(self, fake_stripe, individual):
        later, sooner = two_invoices(individual)
        several = start_several([later, sooner], "110")
        card_payment_cancel(card_payment_id=several.pk, customer_id=individual.pk, actor=CUSTOMER)
        assert not CardPaymentInvoice.objects.filter(open=True).exists()
        single = card_top_up_start(customer_id=individual.pk, invoice_id=sooner.pk, amount=Decimal("50"),
                                   actor=CUSTOMER, success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
        several.refresh_from_db()
        assert several.status == CardPaymentStatus.CANCELLED and single.status == CardPaymentStatus.PENDING
        assert AuditEvent.objects.filter(action="finance.card_payment.expire").count() == 0

    def test_the_database_refuses_a_second_open_checkout_for_an_invoice(self, fake_stripe, individual):
        later, sooner = two_invoices(individual)
        several = start_several([later, sooner], "110")
        other = CardPayment.objects.create(
            customer=individual, purpose=CardPaymentPurpose.INVOICE, channel="checkout", invoice=sooner,
            amount=Decimal("50"), amount_charged=Decimal("50"), currency="SGD", idempotency_key="raw",
            created_at=timezone.now())
        with pytest.raises(IntegrityError, match="card_payment_invoice_one_open_checkout"), transaction.atomic():
            CardPaymentInvoice.objects.create(card_payment=other, invoice=sooner, amount=Decimal("50"))
        assert several.invoice_links.filter(open=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_redirect_and_the_webhook_racing_settle_each_invoice_once(fake_stripe):
    from tests.customers.factories import portal_user

    cust = customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")
    user = portal_user(cust, "acme-portal").user
    top_up(cust, "30")
    later, sooner = two_invoices(cust)
    payment = start_several([later, sooner], "80")
    pay(fake_stripe, payment)
    completed = event_of(fake_stripe, "checkout.session.completed", payment.checkout_session_id)
    intent = event_of(fake_stripe, "payment_intent.succeeded",
                      fake_stripe.get(payment.checkout_session_id)["payment_intent"])
    success = f"/portal/card/success/?session_id={payment.checkout_session_id}"
    statuses: list[int] = []

    def act(n):
        if n in (0, 1):
            browser = Client()
            browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
            statuses.append(browser.get(success).status_code)
        else:
            statuses.append(post_event(Client(), completed if n % 2 else intent).status_code)

    assert run_threads(4, act) == []
    assert statuses == [200] * 4
    assert Transaction.objects.filter(kind=TransactionKind.TOP_UP, source_id=payment.pk).count() == 1
    assert Allocation.objects.filter(invoice__in=[later, sooner]).values("invoice").distinct().count() == 2
    assert sum(Allocation.objects.filter(invoice=later).values_list("amount", flat=True)) == Decimal("60")
    assert sum(Allocation.objects.filter(invoice=sooner).values_list("amount", flat=True)) == Decimal("50")
    assert Invoice.objects.get(pk=later.pk).status == Invoice.objects.get(pk=sooner.pk).status == InvoiceStatus.PAID
    assert AuditEvent.objects.filter(action="finance.card_payment.fulfil").count() == 1
