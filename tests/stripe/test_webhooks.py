"""The Stripe webhook: signature checked on the raw body, each event stored once, and exactly one credit per
card payment whatever is delivered how often, in which order and alongside the customer's redirect."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from django.test import Client

from audit.models import AuditEvent
from customers.models import Transaction, TransactionKind
from finance.models import CardPayment, CardPaymentStatus, StripeEvent, StripeEventStatus
from tests.stripe.helpers import event_of, pay, start
from tests.stripe_fixtures import post_event, signed
from tests.threads import run_calls

URL = "/stripe/webhook/"


def top_ups(customer) -> list[Decimal]:
    return list(Transaction.objects.filter(customer=customer, kind=TransactionKind.TOP_UP)
                .values_list("amount", flat=True))


def paid(fake, customer, amount="25.00"):
    payment = start(customer, amount)
    pay(fake, payment)
    payment.refresh_from_db()
    return payment, event_of(fake, "checkout.session.completed", payment.checkout_session_id)


@pytest.mark.django_db
class TestSignature:
    def _nothing_changed(self, customer, audit_before):
        assert StripeEvent.objects.count() == 0
        assert AuditEvent.objects.count() == audit_before
        assert top_ups(customer) == []
        assert CardPayment.objects.get().status == CardPaymentStatus.PENDING

    def _post(self, client, body: bytes, header: str | None):
        extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
        return client.post(URL, body, content_type="application/json", **extra)

    def test_a_good_signature_is_accepted(self, client, fake_stripe, individual):
        _, event = paid(fake_stripe, individual)
        response = post_event(client, event)
        assert response.status_code == 200 and response.json()["received"] is True
        assert top_ups(individual) == [Decimal("25")]

    @pytest.mark.parametrize("case", ["wrong secret", "stale timestamp", "tampered body", "missing header",
                                      "garbage header", "not an event"])
    def test_bad_signatures_are_400_and_change_nothing(self, client, fake_stripe, individual, case):
        _, event = paid(fake_stripe, individual)
        audit_before = AuditEvent.objects.count()
        body, header = signed(event)
        if case == "wrong secret":
            body, header = signed(event, secret="whsec_someone_else")
        elif case == "stale timestamp":
            body, header = signed(event, timestamp=int(time.time()) - 600)
        elif case == "tampered body":
            tampered = json.loads(body)
            tampered["data"]["object"]["amount_total"] = 999999
            body = json.dumps(tampered, indent=2).encode()
        elif case == "missing header":
            header = None
        elif case == "garbage header":
            header = "nonsense"
        elif case == "not an event":
            body, header = signed({"hello": "world"})
        response = self._post(client, body, header)
        assert response.status_code == 400, case
        self._nothing_changed(individual, audit_before)

    def test_only_post(self, client, fake_stripe):
        assert client.get(URL).status_code == 405

    def test_no_csrf_token_is_needed(self, fake_stripe, individual):
        _, event = paid(fake_stripe, individual)
        response = post_event(Client(enforce_csrf_checks=True), event)
        assert response.status_code == 200


@pytest.mark.django_db
class TestEvents:
    def test_an_unknown_type_is_acknowledged_stored_and_ignored(self, client, fake_stripe, individual):
        _, completed = paid(fake_stripe, individual)
        (created,) = fake_stripe.events_of_type("customer.created")
        response = post_event(client, created)
        assert response.status_code == 200
        stored = StripeEvent.objects.get(event_id=created["id"])
        assert stored.status == StripeEventStatus.IGNORED and stored.type == "customer.created"
        assert top_ups(individual) == []
        (event,) = AuditEvent.objects.filter(action="finance.stripe_event.process")
        assert event.actor_kind == "stripe" and event.after["status"] == "ignored"
        assert post_event(client, created).json()["result"] == "duplicate"
        assert AuditEvent.objects.filter(action="finance.stripe_event.process").count() == 1

    def test_each_event_is_stored_once_and_a_redelivery_is_a_no_op(self, client, fake_stripe, individual):
        _, event = paid(fake_stripe, individual)
        results = [post_event(client, event).json()["result"] for _ in range(3)]
        assert results[1:] == ["duplicate", "duplicate"]
        assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1
        assert top_ups(individual) == [Decimal("25")]
        (fulfil,) = AuditEvent.objects.filter(action="finance.card_payment.fulfil")
        assert fulfil.reason == f"Stripe event {event['id']} (checkout.session.completed)"
        assert not AuditEvent.objects.filter(action="finance.stripe_event.process").exists()

    def test_payment_intent_succeeded_alone_credits_the_checkout_payment(self, client, fake_stripe, individual):
        payment, _ = paid(fake_stripe, individual)
        succeeded = event_of(fake_stripe, "payment_intent.succeeded",
                             fake_stripe.get(payment.checkout_session_id)["payment_intent"])
        post_event(client, succeeded)
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.SUCCEEDED and top_ups(individual) == [Decimal("25")]
        assert AuditEvent.objects.get(action="finance.card_payment.fulfil").actor_kind == "stripe"

    def test_a_failure_event_records_the_failure(self, client, fake_stripe, individual):
        from fakestripe import DECLINE_GENERIC

        payment = start(individual)
        pay(fake_stripe, payment, DECLINE_GENERIC)
        (failed,) = fake_stripe.events_of_type("payment_intent.payment_failed")
        assert post_event(client, failed).status_code == 200
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.FAILED and "declined" in payment.failure_reason
        assert top_ups(individual) == []

    def test_a_session_that_is_not_ours_is_ignored(self, client, fake_stripe, individual):
        from finance.cards import gateway

        session = gateway.checkout_session_create(
            amount=Decimal("5"), currency="SGD", description="elsewhere", idempotency_key="other-app:1",
            success_url="http://x.example/?s={CHECKOUT_SESSION_ID}", cancel_url="http://x.example/", metadata={})
        fake_stripe.pay_checkout_session(session.id)
        event = event_of(fake_stripe, "checkout.session.completed", session.id)
        assert post_event(client, event).json()["result"] == "ignored: not a Ledgerdesk card payment"
        assert top_ups(individual) == []

    def test_an_amount_that_does_not_match_is_refused_stored_and_not_credited(self, client, fake_stripe, individual):
        payment, event = paid(fake_stripe, individual)
        CardPayment.objects.filter(pk=payment.pk).update(amount_charged=Decimal("30"))
        response = post_event(client, event)
        assert response.status_code == 200 and response.json()["result"].startswith("refused:")
        assert top_ups(individual) == []
        assert StripeEvent.objects.get(event_id=event["id"]).status == StripeEventStatus.IGNORED

    def test_stripe_unreachable_is_a_500_so_stripe_delivers_again(self, fake_stripe, individual, settings):
        _, event = paid(fake_stripe, individual)
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"
        client = Client(raise_request_exception=False)
        assert post_event(client, event).status_code == 500
        assert not StripeEvent.objects.exists()
        settings.STRIPE_API_BASE = fake_stripe.url
        assert post_event(client, event).status_code == 200
        assert top_ups(individual) == [Decimal("25")]


def _in_threads(calls, *, start_together=True):
    """Run each call in its own thread (released together); none may raise."""
    results = run_calls(calls, together=start_together, timeout=30)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


@pytest.mark.django_db(transaction=True)
class TestExactlyOnce:
    def test_one_event_ten_times_five_at_once_and_out_of_order_gives_one_credit(self, fake_stripe, individual):
        payment, completed = paid(fake_stripe, individual)
        intent_id = fake_stripe.get(payment.checkout_session_id)["payment_intent"]
        succeeded = event_of(fake_stripe, "payment_intent.succeeded", intent_id)
        created = event_of(fake_stripe, "payment_intent.created", intent_id)
        # Out of order: the session's completion first (5 at once, then 5 more), the intent's success and
        # creation after it.
        statuses = _in_threads([lambda: post_event(Client(), completed).status_code for _ in range(5)])
        for _ in range(5):
            statuses.append(post_event(Client(), completed).status_code)
        statuses.append(post_event(Client(), succeeded).status_code)
        statuses.append(post_event(Client(), created).status_code)
        assert statuses == [200] * 12
        assert top_ups(individual) == [Decimal("25")]
        assert StripeEvent.objects.filter(event_id=completed["id"]).count() == 1
        assert StripeEvent.objects.count() == 3
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.SUCCEEDED
        assert AuditEvent.objects.filter(action="finance.card_payment.fulfil").count() == 1

    def test_concurrent_deliveries_of_both_events_give_one_credit(self, fake_stripe, individual):
        payment, completed = paid(fake_stripe, individual)
        intent_id = fake_stripe.get(payment.checkout_session_id)["payment_intent"]
        succeeded = event_of(fake_stripe, "payment_intent.succeeded", intent_id)
        events = [completed, succeeded] * 3
        statuses = _in_threads([lambda e=e: post_event(Client(), e).status_code for e in events])
        assert statuses == [200] * 6
        assert top_ups(individual) == [Decimal("25")]

    def test_the_redirect_and_the_webhook_racing_give_one_credit(self, fake_stripe, individual):
        from tests.customers.factories import portal_user

        user = portal_user(individual, "acme-portal").user
        for round_ in range(3):
            payment, completed = paid(fake_stripe, individual, f"{20 + round_}")
            browser = Client()
            browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
            success = f"/portal/card/success/?session_id={payment.checkout_session_id}"
            statuses = _in_threads([lambda b=browser, u=success: b.get(u).status_code,
                                    lambda e=completed: post_event(Client(), e).status_code])
            assert statuses == [200, 200]
            assert Transaction.objects.filter(kind=TransactionKind.TOP_UP, source_id=payment.pk).count() == 1
        assert sorted(top_ups(individual)) == [Decimal("20"), Decimal("21"), Decimal("22")]
