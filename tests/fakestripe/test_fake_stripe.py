"""The fake Stripe server, driven through the official SDK as the gateway drives the real one.

No Django and no database: these tests only need the standard library, ``stripe`` and pytest, and run
with or without pytest-django (``-p no:django``).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe

from fakestripe import (
    AUTHENTICATION_ALWAYS,
    DECLINE_GENERIC,
    SUCCESS_VISA,
    FakeStripe,
)
from fakestripe.forms import parse_form

SECRET = "whsec_test_fake"


@pytest.fixture(autouse=True)
def _settings_for_tests() -> None:
    """Shadows tests/conftest.py's autouse fixture of this name, which needs pytest-django's ``settings``."""


@pytest.fixture
def server() -> Iterator[FakeStripe]:
    with FakeStripe(webhook_secret=SECRET, auto_deliver=False) as fake:
        yield fake


@pytest.fixture
def client(server: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> stripe.StripeClient:
    monkeypatch.setattr(stripe, "enable_telemetry", False)  # else the SDK writes ~/.config/stripe
    return stripe.StripeClient("sk_test_fake", base_addresses={"api": server.url}, max_network_retries=0)


class Receiver:
    """A webhook endpoint: records each POST (raw body and headers) and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.received.append((body, dict(self.headers.items())))
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stripe/webhook/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received

    def events(self) -> list[stripe.Event]:
        return [
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
            for body, headers in self.received
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.httpd.shutdown()
    endpoint.httpd.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def submit_card(url: str, card: str) -> tuple[int, str, str | None]:
    """POST the hosted checkout form like a browser, without following the redirect."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=urlencode({"card": card}).encode(), method="POST")
    try:
        with opener.open(request) as response:
            return response.status, response.read().decode(), None
    except urllib.error.HTTPError as redirect:
        return redirect.code, redirect.read().decode(), redirect.headers["Location"]


def get_page(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def create_session(
    client: stripe.StripeClient, customer: str, *, save_card: bool = True, quantity: int = 2
) -> stripe.checkout.Session:
    intent_data: dict[str, Any] = {"metadata": {"invoice": "42", "kind": "top-up"}}
    if save_card:
        intent_data["setup_future_usage"] = "off_session"
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer,
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 1250,
                        "product_data": {"name": "Top-up"},
                    },
                    "quantity": quantity,
                }
            ],
            "payment_method_types": ["card"],
            "success_url": "http://127.0.0.1:8000/portal/top-up/done/?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://127.0.0.1:8000/portal/top-up/",
            "client_reference_id": "top-up-7",
            "metadata": {"invoice": "42"},
            "payment_intent_data": intent_data,
        }
    )


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create(
        params={"email": "ap@acme.test", "name": "Acme", "metadata": {"id": "7"}}
    )


def charge_off_session(
    client: stripe.StripeClient, customer: str, method: str, *, amount: int = 5000, key: str | None = None
) -> stripe.PaymentIntent:
    params: dict[str, Any] = {
        "amount": amount,
        "currency": "eur",
        "customer": customer,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
        "metadata": {"top_up": "9"},
        "description": "Auto top-up",
    }
    return client.v1.payment_intents.create(params=params, options={"idempotency_key": key} if key else {})


class TestCustomers:
    def test_creates_and_retrieves_a_customer(
        self, client: stripe.StripeClient, customer: stripe.Customer
    ) -> None:
        assert customer.id.startswith("cus_")
        assert customer.object == "customer"
        fetched = client.v1.customers.retrieve(customer.id)
        assert (fetched.id, fetched.email, fetched.name, fetched.metadata["id"]) == (
            customer.id,
            "ap@acme.test",
            "Acme",
            "7",
        )

    def test_refuses_a_request_without_an_api_key(self, server: FakeStripe) -> None:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{server.url}/v1/customers/cus_x")
        assert raised.value.code == 401
        assert json.loads(raised.value.read())["error"]["type"] == "invalid_request_error"


class TestCheckoutSession:
    def test_starts_open_and_unpaid_with_a_hosted_url(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)
        assert session.id.startswith("cs_test_")
        assert session.object == "checkout.session"
        assert session.url == f"{server.url}/pay/{session.id}"
        assert (session.status, session.payment_status, session.payment_intent) == ("open", "unpaid", None)
        assert (session.amount_total, session.currency) == (2500, "eur")
        assert session.customer == customer.id
        assert session.client_reference_id == "top-up-7"
        assert session.metadata.to_dict() == {"invoice": "42"}

    def test_the_hosted_page_shows_a_prefilled_card_form_and_a_cancel_link(
        self, client: stripe.StripeClient, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)
        status, html = get_page(session.url)
        assert status == 200
        assert 'name="card"' in html and f'value="{SUCCESS_VISA}"' in html
        assert ">Pay</button>" in html
        assert 'href="http://127.0.0.1:8000/portal/top-up/"' in html
        assert "25.00 EUR" in html

    def test_paying_completes_the_session_and_redirects_to_the_success_url(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)

        status, _, location = submit_card(session.url, SUCCESS_VISA)

        assert status == 303
        assert location == f"http://127.0.0.1:8000/portal/top-up/done/?session={session.id}"
        paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
        assert (paid.status, paid.payment_status) == ("complete", "paid")
        intent = paid.payment_intent
        assert isinstance(intent, stripe.PaymentIntent)
        assert (intent.status, intent.amount, intent.currency, intent.customer) == (
            "succeeded",
            2500,
            "eur",
            customer.id,
        )
        assert intent.metadata.to_dict() == {"invoice": "42", "kind": "top-up"}
        assert intent.latest_charge.startswith("ch_")
        assert [
            event["type"]
            for event in server.events
            if event["type"].startswith(("checkout", "payment_intent.s"))
        ] == ["payment_intent.succeeded", "checkout.session.completed"]

    def test_a_card_saved_for_later_is_attached_to_the_customer(
        self, client: stripe.StripeClient, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)
        submit_card(session.url, SUCCESS_VISA)

        intent = client.v1.payment_intents.retrieve(
            client.v1.checkout.sessions.retrieve(session.id).payment_intent
        )
        method = client.v1.payment_methods.retrieve(intent.payment_method)
        assert method.id.startswith("pm_")
        assert (method.customer, method.type, method.card.brand, method.card.last4) == (
            customer.id,
            "card",
            "visa",
            "4242",
        )
        saved = client.v1.customers.payment_methods.list(customer.id)
        assert [m.id for m in saved.data] == [method.id]
        assert saved.has_more is False

    def test_a_card_not_saved_for_later_stays_off_the_customer(
        self, client: stripe.StripeClient, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id, save_card=False)
        submit_card(session.url, SUCCESS_VISA)

        assert client.v1.customers.payment_methods.list(customer.id).data == []

    def test_a_declined_card_leaves_the_session_open(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)

        status, html, location = submit_card(session.url, DECLINE_GENERIC)

        assert (status, location) == (200, None)
        assert "Your card was declined." in html
        still = client.v1.checkout.sessions.retrieve(session.id)
        assert (still.status, still.payment_status, still.payment_intent) == ("open", "unpaid", None)
        [failed] = server.events_of_type("payment_intent.payment_failed")
        assert failed["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"
        assert server.events_of_type("checkout.session.completed") == []

    def test_a_later_attempt_with_a_good_card_reuses_the_payment_intent(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)
        submit_card(session.url, DECLINE_GENERIC)
        assert submit_card(session.url, SUCCESS_VISA)[0] == 303

        [failed] = server.events_of_type("payment_intent.payment_failed")
        assert (
            client.v1.checkout.sessions.retrieve(session.id).payment_intent == failed["data"]["object"]["id"]
        )

    def test_a_finished_session_cannot_be_paid_again(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)
        submit_card(session.url, SUCCESS_VISA)

        status, html, _ = submit_card(session.url, SUCCESS_VISA)
        assert (status, "no longer active" in html) == (200, True)
        assert len(server.events_of_type("payment_intent.succeeded")) == 1

    def test_line_items_can_be_expanded(self, client: stripe.StripeClient, customer: stripe.Customer) -> None:
        session = create_session(client, customer.id, quantity=3)
        [item] = client.v1.checkout.sessions.retrieve(
            session.id, params={"expand": ["line_items"]}
        ).line_items.data
        assert (item.description, item.quantity, item.price.unit_amount, item.amount_total) == (
            "Top-up",
            3,
            1250,
            3750,
        )

    def test_a_missing_quantity_is_a_parameter_missing_error(
        self, client: stripe.StripeClient, customer: stripe.Customer
    ) -> None:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "success_url": "http://127.0.0.1/ok",
                    "line_items": [
                        {"price_data": {"currency": "eur", "unit_amount": 100, "product_data": {"name": "x"}}}
                    ],
                }
            )
        assert (raised.value.http_status, raised.value.code, raised.value.param) == (
            400,
            "parameter_missing",
            "line_items[0][quantity]",
        )

    def test_an_unknown_parameter_is_refused_as_stripe_does(self, client: stripe.StripeClient) -> None:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.customers.create(params={"emial": "typo@acme.test"})  # type: ignore[typeddict-unknown-key]
        assert (raised.value.code, raised.value.param) == ("parameter_unknown", "emial")


class TestOffSessionPaymentIntent:
    @pytest.fixture
    def saved_card(self, client: stripe.StripeClient, customer: stripe.Customer) -> str:
        session = create_session(client, customer.id)
        submit_card(session.url, SUCCESS_VISA)
        return client.v1.customers.payment_methods.list(customer.id).data[0].id

    def test_charges_a_saved_card(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer, saved_card: str
    ) -> None:
        intent = charge_off_session(client, customer.id, saved_card)

        assert intent.id.startswith("pi_")
        assert (intent.status, intent.amount, intent.amount_received, intent.payment_method) == (
            "succeeded",
            5000,
            5000,
            saved_card,
        )
        assert (intent.metadata["top_up"], intent.description) == ("9", "Auto top-up")
        assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
        assert server.events_of_type("payment_intent.succeeded")[-1]["data"]["object"]["id"] == intent.id

    def test_a_declining_card_raises_card_error_with_the_payment_intent(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        method = server.add_payment_method(customer.id, card=DECLINE_GENERIC)

        with pytest.raises(stripe.CardError) as raised:
            charge_off_session(client, customer.id, method["id"])

        error = raised.value
        assert (error.http_status, error.code) == (402, "card_declined")
        assert error.error is not None and error.error.decline_code == "generic_decline"
        intent = error.error.payment_intent
        assert intent is not None and intent.status == "requires_payment_method"
        assert client.v1.payment_intents.retrieve(intent.id).last_payment_error.code == "card_declined"
        [failed] = server.events_of_type("payment_intent.payment_failed")
        assert failed["data"]["object"]["id"] == intent.id

    def test_a_card_that_always_authenticates_needs_the_customer(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        method = server.add_payment_method(customer.id, card=AUTHENTICATION_ALWAYS)

        with pytest.raises(stripe.CardError) as raised:
            charge_off_session(client, customer.id, method["id"])

        assert raised.value.code == "authentication_required"
        assert raised.value.error is not None and raised.value.error.payment_intent is not None
        assert raised.value.error.payment_intent.status == "requires_payment_method"

    def test_the_same_idempotency_key_replays_the_first_result(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer, saved_card: str
    ) -> None:
        first = charge_off_session(client, customer.id, saved_card, key="auto-top-up:7:2025-03-01")
        again = charge_off_session(client, customer.id, saved_card, key="auto-top-up:7:2025-03-01")

        assert again.id == first.id
        assert len(server.events_of_type("payment_intent.succeeded")) == 2  # checkout + one charge

    def test_the_same_idempotency_key_with_other_params_is_an_error(
        self, client: stripe.StripeClient, customer: stripe.Customer, saved_card: str
    ) -> None:
        charge_off_session(client, customer.id, saved_card, key="auto-top-up:7:2025-03-02")

        with pytest.raises(stripe.IdempotencyError) as raised:
            charge_off_session(client, customer.id, saved_card, amount=6000, key="auto-top-up:7:2025-03-02")
        assert raised.value.http_status == 400

    def test_a_decline_is_replayed_for_the_same_key(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        method = server.add_payment_method(customer.id, card=DECLINE_GENERIC)
        intents = []
        for _ in range(2):
            with pytest.raises(stripe.CardError) as raised:
                charge_off_session(client, customer.id, method["id"], key="auto-top-up:7:2025-03-03")
            assert raised.value.error is not None and raised.value.error.payment_intent is not None
            intents.append(raised.value.error.payment_intent.id)
        assert intents[0] == intents[1]
        assert len(server.events_of_type("payment_intent.payment_failed")) == 1

    def test_an_unknown_payment_method_is_an_invalid_request(
        self, client: stripe.StripeClient, customer: stripe.Customer
    ) -> None:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            charge_off_session(client, customer.id, "pm_unknown")
        assert (raised.value.http_status, raised.value.code, raised.value.param) == (
            400,
            "resource_missing",
            "payment_method",
        )


class TestUnknownIds:
    @pytest.mark.parametrize(
        "retrieve",
        [
            lambda c: c.v1.customers.retrieve("cus_missing"),
            lambda c: c.v1.checkout.sessions.retrieve("cs_test_missing"),
            lambda c: c.v1.payment_intents.retrieve("pi_missing"),
            lambda c: c.v1.payment_methods.retrieve("pm_missing"),
            lambda c: c.v1.events.retrieve("evt_missing"),
            lambda c: c.v1.customers.payment_methods.list("cus_missing"),
        ],
    )
    def test_are_resource_missing_404s(self, client: stripe.StripeClient, retrieve: Any) -> None:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            retrieve(client)
        assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


class TestWebhooks:
    def test_events_are_delivered_signed_as_stripe_signs_them(
        self, client: stripe.StripeClient, server: FakeStripe, receiver: Receiver, customer: stripe.Customer
    ) -> None:
        server.set_webhook(receiver.url, SECRET)
        server.auto_deliver = True
        session = create_session(client, customer.id)
        submit_card(session.url, SUCCESS_VISA)

        assert server.wait_for_webhooks()
        completed = [e for e in receiver.events() if e.type == "checkout.session.completed"]
        assert [e.data.object.id for e in completed] == [session.id]
        assert completed[0].data.object.payment_status == "paid"
        assert completed[0].api_version == server.api_version
        body, headers = receiver.received[0]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")

    def test_with_auto_delivery_off_the_test_delivers_events_itself(
        self, client: stripe.StripeClient, server: FakeStripe, receiver: Receiver, customer: stripe.Customer
    ) -> None:
        server.set_webhook(receiver.url, SECRET)
        session = create_session(client, customer.id)
        submit_card(session.url, SUCCESS_VISA)
        assert receiver.received == []

        deliveries = server.deliver_pending()

        assert all(d.ok for d in deliveries) and len(deliveries) == len(receiver.received) > 0
        assert [e.id for e in receiver.events()] == [d.event_id for d in deliveries]
        assert server.deliver_pending() == []

    def test_webhook_request_gives_a_body_and_signature_for_a_test_client(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        session = create_session(client, customer.id)
        server.pay_checkout_session(session.id)
        [event] = server.events_of_type("checkout.session.completed")

        body, headers = server.webhook_request(event["id"])

        verified = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
        assert (verified.id, verified.type, verified.data.object.id) == (
            event["id"],
            event["type"],
            session.id,
        )

    def test_events_can_be_retrieved_through_the_api(
        self, client: stripe.StripeClient, server: FakeStripe, customer: stripe.Customer
    ) -> None:
        [created] = server.events_of_type("customer.created")
        event = client.v1.events.retrieve(created["id"])
        assert (event.object, event.type, event.livemode, event.data.object.id) == (
            "event",
            "customer.created",
            False,
            customer.id,
        )

    def test_the_signature_is_the_one_the_sdk_computes(self, server: FakeStripe) -> None:
        payload = '{"id": "evt_1"}'
        expected = stripe.WebhookSignature.generate_signature_header(payload, SECRET, timestamp=1700000000)
        assert server.sign_payload(payload, timestamp=1700000000) == expected


class TestFormDecoding:
    def test_decodes_the_sdk_bracket_encoding(self) -> None:
        body = (
            "metadata[invoice]=1&line_items[0][price_data][unit_amount]=250&line_items[0][quantity]=2"
            "&line_items[1][quantity]=1&payment_method_types[0]=card&expand[]=a&expand[]=b&off_session=true"
        )
        assert parse_form(body) == {
            "metadata": {"invoice": "1"},
            "line_items": [{"price_data": {"unit_amount": "250"}, "quantity": "2"}, {"quantity": "1"}],
            "payment_method_types": ["card"],
            "expand": ["a", "b"],
            "off_session": "true",
        }
