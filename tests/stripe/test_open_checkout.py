"""At most one open Checkout per invoice and per customer's top-up (issue 19, defects 3 and 4): a second
click reuses the open session or expires it at Stripe first; a database index holds the rule under
concurrency; cancelling and the expiry job expire the session at Stripe so nothing can be paid on a closed
row; Stripe's own errors never reach the customer (defect 7)."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from customers.models import TransactionKind
from finance.models import (
    CardPayment,
    CardPaymentChannel,
    CardPaymentInvoiceOutcome,
    CardPaymentPurpose,
    CardPaymentStatus,
)
from finance.services.cards import (
    START_FAILED,
    CardPaymentError,
    InvoiceAlreadyPaid,
    card_payment_fulfil,
    card_payments_expire,
    card_top_up_start,
)
from invoices.models import InvoiceStatus
from tests.finance.factories import purchase_invoice
from tests.stripe.helpers import CANCEL_URL, CUSTOMER, SUCCESS_URL, pay, start
from tests.threads import run_threads

JOB = Actor.system("card-payment-expiry")
SESSIONS = "/v1/checkout/sessions"


def start_for(invoice, amount, **kwargs):
    return card_top_up_start(customer_id=invoice.customer_id, invoice_id=invoice.pk, amount=Decimal(amount),
                             actor=CUSTOMER, success_url=SUCCESS_URL, cancel_url=CANCEL_URL, **kwargs)


def sessions_created(fake):
    return [r for r in fake.requests if r.method == "POST" and r.path == SESSIONS]


@pytest.mark.django_db
class TestOneOpenCheckoutPerInvoice:
    def test_a_second_click_with_the_same_amount_reuses_the_open_session(self, fake_stripe, individual):
        invoice = purchase_invoice(individual, "60")
        first = start_for(invoice, "60")
        second = start_for(invoice, "60")
        assert second.pk == first.pk and second.checkout_url == first.checkout_url
        assert len(sessions_created(fake_stripe)) == 1
        assert CardPayment.objects.count() == 1
        assert AuditEvent.objects.filter(action="finance.card_payment.start").count() == 1

    def test_another_amount_expires_the_open_session_at_stripe_first(self, fake_stripe, individual):
        invoice = purchase_invoice(individual, "60")
        first = start_for(invoice, "60")
        second = start_for(invoice, "75")
        first.refresh_from_db()
        assert second.pk != first.pk and second.status == CardPaymentStatus.PENDING
        assert first.status == CardPaymentStatus.EXPIRED and first.expired_at is not None
        assert fake_stripe.get(first.checkout_session_id)["status"] == "expired"
        result = pay(fake_stripe, first)  # the first tab's Checkout page, still on screen
        assert not result.ok
        assert AuditEvent.objects.filter(action="finance.card_payment.expire", object_id=str(first.pk)).count() == 1
        pay(fake_stripe, second)
        card_payment_fulfil(checkout_session_id=second.checkout_session_id, actor=CUSTOMER)
        invoice.refresh_from_db()
        individual.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID and individual.usable_credits == Decimal("15")

    def test_a_session_about_to_expire_is_replaced_not_reused(self, fake_stripe, individual):
        invoice = purchase_invoice(individual, "60")
        first = start_for(invoice, "60")
        second = start_for(invoice, "60", now=first.expires_at - dt.timedelta(minutes=5))
        first.refresh_from_db()
        assert second.pk != first.pk and first.status == CardPaymentStatus.EXPIRED

    def test_an_open_session_paid_meanwhile_is_credited_and_the_click_is_told_the_invoice_is_paid(
            self, fake_stripe, individual):
        invoice = purchase_invoice(individual, "60")
        first = start_for(invoice, "60")
        pay(fake_stripe, first)  # paid in the first tab; its webhook has not arrived yet
        with pytest.raises(InvoiceAlreadyPaid, match=f"Invoice {invoice.number} is already paid"):
            start_for(invoice, "60")
        first.refresh_from_db()
        invoice.refresh_from_db()
        assert first.status == CardPaymentStatus.SUCCEEDED and first.invoice_outcome == CardPaymentInvoiceOutcome.PAID
        assert invoice.status == InvoiceStatus.PAID and len(sessions_created(fake_stripe)) == 1

    def test_the_database_refuses_a_second_open_checkout_for_one_invoice(self, fake_stripe, individual):
        invoice = purchase_invoice(individual, "60")
        first = start_for(invoice, "60")
        with pytest.raises(IntegrityError, match="card_payment_one_open_checkout_per_invoice"), transaction.atomic():
            CardPayment.objects.create(
                customer=individual, purpose=CardPaymentPurpose.INVOICE, channel=CardPaymentChannel.CHECKOUT,
                invoice=invoice, amount=Decimal("60"), amount_charged=Decimal("60"), currency="SGD",
                idempotency_key="second", created_at=timezone.now())
        CardPayment.objects.filter(pk=first.pk).update(status=CardPaymentStatus.FAILED)  # declined once: still open
        with pytest.raises(IntegrityError, match="card_payment_one_open_checkout_per_invoice"), transaction.atomic():
            CardPayment.objects.create(
                customer=individual, purpose=CardPaymentPurpose.INVOICE, channel=CardPaymentChannel.CHECKOUT,
                invoice=invoice, amount=Decimal("60"), amount_charged=Decimal("60"), currency="SGD",
                idempotency_key="third", created_at=timezone.now())


@pytest.mark.django_db
class TestOneOpenTopUp:
    def test_a_second_top_up_reuses_or_replaces_the_open_one(self, fake_stripe, individual):
        first = start(individual, "30")
        assert start(individual, "30").pk == first.pk
        second = start(individual, "45")
        first.refresh_from_db()
        assert first.status == CardPaymentStatus.EXPIRED and second.status == CardPaymentStatus.PENDING
        assert list(CardPayment.objects.filter(status=CardPaymentStatus.PENDING)) == [second]

    def test_the_database_refuses_a_second_open_top_up(self, fake_stripe, individual):
        start(individual, "30")
        with pytest.raises(IntegrityError, match="card_payment_one_open_checkout_top_up"), transaction.atomic():
            CardPayment.objects.create(
                customer=individual, purpose=CardPaymentPurpose.TOP_UP, channel=CardPaymentChannel.CHECKOUT,
                amount=Decimal("30"), amount_charged=Decimal("30"), currency="SGD", idempotency_key="second",
                created_at=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_for_one_invoice_leave_one_open_payment_and_one_session(fake_stripe, individual):
    invoice = purchase_invoice(individual, "60")
    got: list[int] = []

    def click(n: int) -> None:
        got.append(start_for(invoice, "60").pk)

    for _ in range(3):
        errors = run_threads(4, click)
        assert errors == []
    assert len(set(got)) == 1 and len(got) == 12
    assert CardPayment.objects.count() == 1 and len(sessions_created(fake_stripe)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_with_different_amounts_leave_one_open_payment(fake_stripe, individual):
    invoice = purchase_invoice(individual, "60")

    def click(n: int) -> None:
        start_for(invoice, str(60 + n))

    assert run_threads(4, click) == []
    open_rows = CardPayment.objects.filter(status=CardPaymentStatus.PENDING)
    assert open_rows.count() == 1
    open_sessions = [r for r in CardPayment.objects.all() if fake_stripe.get(r.checkout_session_id)["status"] == "open"]
    assert open_sessions == list(open_rows)


@pytest.mark.django_db
class TestExpiry:
    def test_the_job_expires_payments_past_their_session_lifetime_at_stripe_first(self, fake_stripe, individual,
                                                                                   consolidated):
        stale, fresh = start(individual, "30"), start(consolidated, "30")
        assert stale.expires_at == dt.datetime.fromtimestamp(fake_stripe.get(stale.checkout_session_id)["expires_at"],
                                                             tz=dt.UTC)
        later = stale.expires_at + dt.timedelta(seconds=1)
        CardPayment.objects.filter(pk=fresh.pk).update(expires_at=later + dt.timedelta(hours=1))
        assert card_payments_expire(actor=JOB, now=later) == 1
        stale.refresh_from_db()
        fresh.refresh_from_db()
        assert stale.status == CardPaymentStatus.EXPIRED and fresh.status == CardPaymentStatus.PENDING
        assert fake_stripe.get(stale.checkout_session_id)["status"] == "expired"
        assert AuditEvent.objects.filter(action="finance.card_payment.expire").count() == 1
        assert card_payments_expire(actor=JOB, now=later) == 0  # nothing left to do: no second event
        assert AuditEvent.objects.filter(action="finance.card_payment.expire").count() == 1

    def test_a_stale_payment_stripe_says_is_paid_is_credited_not_expired(self, fake_stripe, individual):
        payment = start(individual, "30")
        pay(fake_stripe, payment)  # paid, but no webhook and no redirect reached us
        assert card_payments_expire(actor=JOB, now=payment.expires_at + dt.timedelta(seconds=1)) == 1
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.SUCCEEDED
        assert payment.credit_transaction.kind == TransactionKind.TOP_UP

    def test_stripe_unreachable_leaves_the_payment_for_the_next_run(self, fake_stripe, individual):
        payment = start(individual, "30")
        fake_stripe.fail_next("POST", SESSIONS + "/[^/]+/expire", times=3)
        assert card_payments_expire(actor=JOB, now=payment.expires_at + dt.timedelta(seconds=1)) == 0
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING


@pytest.mark.django_db
class TestProcessorErrorsInOurWords:
    def test_a_stripe_refusal_is_told_in_our_words_and_kept_in_the_log_and_the_audit_trail(
            self, fake_stripe, individual, caplog):
        raw = "Invalid integer: amount (internal detail 7f3a)"
        fake_stripe.fail_next("POST", SESSIONS, status=400, type="invalid_request_error", message=raw)
        with caplog.at_level(logging.ERROR, logger="finance.services.cards"), \
                pytest.raises(CardPaymentError) as refused:
            start(individual, "30")
        assert str(refused.value) == START_FAILED and raw not in str(refused.value)
        assert raw in caplog.text
        event = AuditEvent.objects.get(action="finance.card_payment.start_failed")
        assert event.customer_id == individual.pk and event.after["processor_error"] == raw
        assert not CardPayment.objects.exists()


@pytest.mark.django_db
class TestTheStartRefusesWhatACardCannotCharge:
    """The service itself holds the strict parser's rules, whoever calls it (not only the portal's forms)."""

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"amount": "50.0000001"}, "at most 6 decimal places"),
        ({"amount": "0"}, "more than zero"),
        ({"amount": "1e5"}, "exponent"),
        ({"amount": "1000000.01"}, "at most 1,000,000.00"),
        ({"amount": "50", "save_card": True, "trigger_amount": "2000000", "limit_threshold": "5"},
         "at most 1,000,000.00"),
        ({"amount": "50", "save_card": True, "trigger_amount": "20", "limit_threshold": "2000000"},
         "at most 1,000,000.00"),
    ])
    def test_refused_with_the_parsers_message_and_nothing_is_started(self, fake_stripe, individual, kwargs,
                                                                     message):
        with pytest.raises(CardPaymentError, match=message):
            card_top_up_start(customer_id=individual.pk, actor=CUSTOMER, success_url=SUCCESS_URL,
                              cancel_url=CANCEL_URL, **kwargs)
        assert CardPayment.objects.count() == 0 and sessions_created(fake_stripe) == []


@pytest.mark.django_db
def test_paying_an_invoice_by_card_is_held_to_the_top_up_maximum_too(fake_stripe, individual):
    """The service, not only the portal's form: an invoice's card top-up may be at most the top-up maximum
    (or the card charge of a larger shortfall)."""
    invoice = purchase_invoice(individual, "60")
    with pytest.raises(CardPaymentError, match="at most 1,000,000.00"):
        start_for(invoice, "5000000")
    assert CardPayment.objects.count() == 0 and sessions_created(fake_stripe) == []
