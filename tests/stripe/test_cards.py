"""Card payments: Checkout top-ups credited once, saved cards, off-session charges, failures never credit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import Bucket, Transaction, TransactionKind
from fakestripe import AUTHENTICATION_ALWAYS, DECLINE_GENERIC, DECLINE_INSUFFICIENT_FUNDS
from finance.models import CardPayment, CardPaymentStatus, PaymentSettings
from finance.services.cards import (
    CardPaymentError,
    card_charge_off_session,
    card_payment_cancel,
    card_payment_fulfil,
    stripe_event_process,
)
from tests.stripe.helpers import CUSTOMER, STRIPE, pay, save_card, start

pytestmark = pytest.mark.django_db


def credits_of(customer):
    return list(Transaction.objects.filter(customer=customer, kind=TransactionKind.TOP_UP).values_list(
        "bucket", "amount"))


class TestCheckoutTopUp:
    def test_starting_creates_our_row_and_a_session_and_credits_nothing(self, fake_stripe, individual):
        payment = start(individual, "25.001")
        assert payment.status == CardPaymentStatus.PENDING and payment.amount == Decimal("25.001")
        assert payment.amount_charged == Decimal("25.01")
        assert payment.idempotency_key == f"card-payment:{payment.pk}:checkout"
        assert payment.checkout_url == f"{fake_stripe.url}/pay/{payment.checkout_session_id}"
        assert credits_of(individual) == []
        event = AuditEvent.objects.get(action="finance.card_payment.start")
        assert event.customer_id == individual.pk and event.after["amount_charged"] == "25.010000"

    def test_below_the_minimum_top_up_is_refused_and_nothing_is_created(self, fake_stripe, individual, settings):
        settings.LEDGERDESK_MIN_TOP_UP = Decimal("10")
        with pytest.raises(CardPaymentError, match="minimum top-up is 10"):
            start(individual, "9.99")
        assert not CardPayment.objects.exists() and fake_stripe.requests == []

    def test_stripe_down_refuses_with_a_message_and_leaves_no_row(self, fake_stripe, individual, settings):
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"
        with pytest.raises(CardPaymentError, match=r"^The card payment could not be started\. Please try again later\.$"):
            start(individual)
        assert not CardPayment.objects.exists()

    def test_paid_is_credited_with_what_the_card_paid_rounded_up(self, fake_stripe, individual):
        payment = start(individual, "25.001")
        pay(fake_stripe, payment)
        done = card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        individual.refresh_from_db()
        assert done.status == CardPaymentStatus.SUCCEEDED and done.credited_at is not None
        assert credits_of(individual) == [(Bucket.DUE, Decimal("25.01"))]  # individual: due CR
        assert individual.usable_credits == Decimal("25.01")
        assert (done.card_brand, done.card_last4) == ("visa", "4242")
        assert done.credit_transaction.idempotency_key == f"card-payment:{payment.pk}:credit"

    def test_consolidated_customers_get_unbilled_credit(self, fake_stripe, consolidated):
        payment = start(consolidated, "40")
        pay(fake_stripe, payment)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        consolidated.refresh_from_db()
        assert credits_of(consolidated) == [(Bucket.UNBILLED, Decimal("40"))]
        assert consolidated.expecting_invoice == Decimal("40") and consolidated.usable_credits == Decimal("40")

    def test_fulfilling_again_credits_nothing_more(self, fake_stripe, individual):
        payment = start(individual)
        pay(fake_stripe, payment)
        for _ in range(3):
            card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        intent = CardPayment.objects.get().payment_intent_id
        card_payment_fulfil(payment_intent_id=intent, actor=STRIPE)
        assert credits_of(individual) == [(Bucket.DUE, Decimal("25"))]
        assert AuditEvent.objects.filter(action="finance.card_payment.fulfil").count() == 1

    def test_an_unpaid_session_is_not_credited(self, fake_stripe, individual):
        payment = start(individual)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING and credits_of(individual) == []

    def test_saving_the_card_keeps_it_on_the_account_with_the_auto_top_up_choices(self, fake_stripe, individual):
        save_card(fake_stripe, individual)
        payment = CardPayment.objects.get()
        assert individual.stripe_customer_id.startswith("cus_")
        assert individual.stripe_payment_method_id == payment.payment_method_id
        assert (individual.card_brand, individual.card_last4) == ("visa", "4242")
        assert (payment.trigger_amount, payment.limit_threshold) == (Decimal("50"), Decimal("10"))
        settings_ = PaymentSettings.objects.get(customer=individual)
        assert (settings_.method, settings_.trigger_amount, settings_.limit_threshold,
                settings_.auto_top_up_enabled) == ("card", Decimal("50"), Decimal("10"), True)
        assert AuditEvent.objects.filter(action="finance.payment_settings.update_from_portal",
                                         customer_id=individual.pk).count() == 1

    def test_without_saving_no_card_is_kept_but_the_stripe_customer_is_reused(self, fake_stripe, individual):
        first = start(individual)
        pay(fake_stripe, first)
        card_payment_fulfil(checkout_session_id=first.checkout_session_id, actor=CUSTOMER)
        individual.refresh_from_db()
        assert individual.stripe_payment_method_id == "" and individual.card_last4 == ""
        assert individual.stripe_customer_id.startswith("cus_")
        second = start(individual)
        assert fake_stripe.get(second.checkout_session_id)["customer"] == individual.stripe_customer_id

    def test_a_stripe_customer_gone_at_stripe_is_replaced_by_a_new_one(self, fake_stripe, individual):
        individual.stripe_customer_id = "cus_deleted_meanwhile"
        individual.save(update_fields=["stripe_customer_id"])
        payment = start(individual)
        assert payment.idempotency_key.endswith(":new-customer")
        pay(fake_stripe, payment)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        individual.refresh_from_db()
        assert individual.stripe_customer_id.startswith("cus_") and individual.stripe_customer_id != "cus_deleted_meanwhile"
        assert fake_stripe.get(individual.stripe_customer_id)["object"] == "customer"

    def test_saving_needs_the_auto_top_up_amounts(self, fake_stripe, individual):
        with pytest.raises(CardPaymentError, match="at least"):
            start(individual, save_card=True, trigger_amount=None, limit_threshold=Decimal("5"))
        with pytest.raises(CardPaymentError, match="threshold"):
            start(individual, save_card=True, trigger_amount=Decimal("50"), limit_threshold=None)
        with pytest.raises(CardPaymentError, match="threshold"):
            start(individual, save_card=True, trigger_amount=Decimal("50"), limit_threshold=Decimal("0"))
        assert not CardPayment.objects.exists()

    def test_a_declined_card_is_recorded_and_never_credited(self, fake_stripe, individual):
        payment = start(individual)
        result = pay(fake_stripe, payment, DECLINE_INSUFFICIENT_FUNDS)
        assert not result.ok
        (event,) = fake_stripe.events_of_type("payment_intent.payment_failed")
        stripe_event_process(event=event, actor=STRIPE)  # the failure reaches us as Stripe's event
        failed = CardPayment.objects.get(pk=payment.pk)
        assert failed.status == CardPaymentStatus.FAILED and "insufficient funds" in failed.failure_reason
        assert failed.failure_code == "insufficient_funds"
        assert credits_of(individual) == [] and individual.usable_credits == Decimal("0")

    def test_a_retry_with_a_good_card_after_a_decline_is_credited_and_a_late_failure_changes_nothing(
            self, fake_stripe, individual):
        payment = start(individual)
        pay(fake_stripe, payment, DECLINE_GENERIC)
        pay(fake_stripe, payment, DECLINE_GENERIC)  # declined twice: two failure events
        first, late = fake_stripe.events_of_type("payment_intent.payment_failed")
        stripe_event_process(event=first, actor=STRIPE)
        assert CardPayment.objects.get(pk=payment.pk).status == CardPaymentStatus.FAILED
        pay(fake_stripe, payment)  # the customer tries again on the same page, with a good card
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        stripe_event_process(event=late, actor=STRIPE)  # the second failure event, delivered late
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.SUCCEEDED
        assert credits_of(individual) == [(Bucket.DUE, Decimal("25"))]

    def test_cancel_expires_the_session_at_stripe_so_nothing_can_be_paid_on_it_later(self, fake_stripe, individual):
        payment = start(individual)
        cancelled = card_payment_cancel(card_payment_id=payment.pk, customer_id=individual.pk, actor=CUSTOMER)
        assert cancelled.status == CardPaymentStatus.CANCELLED and cancelled.cancelled_at is not None
        assert fake_stripe.get(payment.checkout_session_id)["status"] == "expired"
        result = pay(fake_stripe, payment)  # the Checkout page left open in another tab
        assert not result.ok and "no longer active" in result.error
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.CANCELLED and credits_of(individual) == []
        assert AuditEvent.objects.filter(action="finance.card_payment.cancel", object_id=str(payment.pk)).count() == 1

    def test_cancel_of_a_session_paid_meanwhile_credits_it_instead(self, fake_stripe, individual):
        payment = start(individual)
        pay(fake_stripe, payment)  # paid in another tab, no webhook yet
        done = card_payment_cancel(card_payment_id=payment.pk, customer_id=individual.pk, actor=CUSTOMER)
        assert done.status == CardPaymentStatus.SUCCEEDED
        assert credits_of(individual) == [(Bucket.DUE, Decimal("25"))]
        assert not AuditEvent.objects.filter(action="finance.card_payment.cancel").exists()

    def test_cancel_when_stripe_cannot_be_asked_changes_nothing(self, fake_stripe, individual):
        payment = start(individual)
        fake_stripe.fail_next("POST", r"/v1/checkout/sessions/[^/]+/expire", times=5)
        with pytest.raises(CardPaymentError, match="could not be cancelled just now"):
            card_payment_cancel(card_payment_id=payment.pk, customer_id=individual.pk, actor=CUSTOMER)
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING
        assert fake_stripe.get(payment.checkout_session_id)["status"] == "open"

    def test_cancel_of_another_customers_payment_is_refused(self, fake_stripe, individual, consolidated):
        payment = start(individual)
        with pytest.raises(CardPaymentError):
            card_payment_cancel(card_payment_id=payment.pk, customer_id=consolidated.pk, actor=CUSTOMER)
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING


class TestOffSession:
    def test_the_saved_card_is_charged_and_credited(self, fake_stripe, individual):
        save_card(fake_stripe, individual)
        payment = card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                          idempotency_key="auto-top-up:1", actor=STRIPE)
        assert payment.status == CardPaymentStatus.SUCCEEDED and payment.purpose == "auto_top_up"
        individual.refresh_from_db()
        assert individual.usable_credits == Decimal("70")
        (request,) = [r for r in fake_stripe.requests if r.path == "/v1/payment_intents"]
        assert request.idempotency_key == "auto-top-up:1" and request.params["off_session"] == "true"
        assert request.params["amount"] == "5000"

    def test_the_same_key_charges_once(self, fake_stripe, individual):
        save_card(fake_stripe, individual)
        first = card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                        idempotency_key="auto-top-up:2", actor=STRIPE)
        again = card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                        idempotency_key="auto-top-up:2", actor=STRIPE)
        assert first.pk == again.pk
        assert len([r for r in fake_stripe.requests if r.path == "/v1/payment_intents"]) == 1
        individual.refresh_from_db()
        assert individual.usable_credits == Decimal("70")

    def test_a_pending_row_left_by_a_crash_is_charged_with_the_same_key(self, fake_stripe, individual):
        from finance.services.cards import _off_session_row

        save_card(fake_stripe, individual)
        row = _off_session_row(customer_id=individual.pk, amount=Decimal("50"), idempotency_key="auto-top-up:3",
                               actor=STRIPE, now=None)
        done = card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                       idempotency_key="auto-top-up:3", actor=STRIPE)
        assert done.pk == row.pk and done.status == CardPaymentStatus.SUCCEEDED

    @pytest.mark.parametrize(("card", "code"), [(DECLINE_GENERIC, "generic_decline"),
                                                (AUTHENTICATION_ALWAYS, "authentication_required")])
    def test_declines_and_authentication_end_as_a_recorded_failure_never_credits(
            self, fake_stripe, individual, card, code):
        save_card(fake_stripe, individual, card)
        payment = card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                          idempotency_key=f"auto-top-up:{code}", actor=STRIPE)
        assert payment.status == CardPaymentStatus.FAILED and payment.failure_code == code
        assert payment.failure_reason and payment.credited_at is None
        individual.refresh_from_db()
        assert individual.usable_credits == Decimal("20")  # only the first (saving) top-up
        assert AuditEvent.objects.filter(action="finance.card_payment.fail", object_id=str(payment.pk)).count() == 1
        again = card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                        idempotency_key=f"auto-top-up:{code}", actor=STRIPE)
        assert again.status == CardPaymentStatus.FAILED
        assert len([r for r in fake_stripe.requests if r.path == "/v1/payment_intents"]) == 1

    @pytest.mark.parametrize("break_it", ["stripe_down", "card_gone_at_stripe"])
    def test_a_processor_error_reaches_the_customer_in_our_words_and_stripes_only_in_the_log_and_audit(
            self, fake_stripe, individual, settings, caplog, break_it):
        """Issue 19: CardPaymentError carried Stripe's raw message ("No such PaymentMethod: 'pm_...'", the
        connection error) into the auto top-up's reason, its email and the portal."""
        save_card(fake_stripe, individual)
        if break_it == "stripe_down":
            settings.STRIPE_API_BASE = "http://127.0.0.1:9"
        else:
            individual.stripe_payment_method_id = "pm_gone_at_stripe"
            individual.save(update_fields=["stripe_payment_method_id"])
        with pytest.raises(CardPaymentError) as raised:
            card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"),
                                    idempotency_key=f"auto-top-up:{break_it}", actor=STRIPE)
        assert str(raised.value) == "Your saved card could not be charged. Please try again later."
        event = AuditEvent.objects.get(action="finance.card_payment.charge_unconfirmed")
        raw = event.after["processor_error"]
        assert raw and raw not in str(raised.value) and raw in caplog.text
        payment = CardPayment.objects.get(idempotency_key=f"auto-top-up:{break_it}")
        assert payment.status == CardPaymentStatus.PENDING and not payment.failure_reason  # tried again later

    def test_no_saved_card_is_refused(self, fake_stripe, individual):
        with pytest.raises(CardPaymentError, match="no saved card"):
            card_charge_off_session(customer_id=individual.pk, amount=Decimal("50"), idempotency_key="k",
                                    actor=STRIPE)
        assert not CardPayment.objects.exists()


class TestNoNeedlessCalls:
    def test_a_credited_payment_is_not_asked_about_again(self, fake_stripe, individual):
        payment = start(individual)
        pay(fake_stripe, payment)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        before = len(fake_stripe.requests)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
        assert len(fake_stripe.requests) == before
