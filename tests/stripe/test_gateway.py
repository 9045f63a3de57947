"""The gateway: the only module that imports stripe, and the only one with minor units."""

from __future__ import annotations

import ast
import pathlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakestripe import AUTHENTICATION_ALWAYS, DECLINE_GENERIC
from finance.cards import gateway

ROOT = pathlib.Path(__file__).resolve().parents[2]


class TestMinorUnits:
    @pytest.mark.parametrize(("amount", "currency", "units"), [
        ("25.00", "SGD", 2500), ("25.001", "SGD", 2501), ("25.000001", "usd", 2501), ("0.004", "SGD", 1),
        ("1610.81544", "SGD", 161082), ("1000", "JPY", 1000), ("1000.2", "JPY", 1001), ("1.0001", "KWD", 1001),
    ])
    def test_amounts_are_rounded_up_to_the_minor_unit(self, amount, currency, units):
        assert gateway.to_minor(Decimal(amount), currency) == units

    def test_back_from_minor_units(self):
        assert gateway.from_minor(161082, "SGD") == Decimal("1610.82")
        assert gateway.from_minor(1000, "JPY") == Decimal("1000")
        assert gateway.chargeable(Decimal("12.345678"), "SGD") == Decimal("12.35")

    def test_floats_are_refused(self):
        with pytest.raises(TypeError):
            gateway.to_minor(12.5, "SGD")  # type: ignore[arg-type]

    @settings(max_examples=50, deadline=None)
    @given(st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("99999999"), places=6),
           st.sampled_from(["SGD", "USD", "JPY", "KWD"]))
    def test_the_charge_is_never_less_and_less_than_one_minor_unit_more(self, amount, currency):
        charged = gateway.chargeable(amount, currency)
        unit = Decimal(1).scaleb(-gateway.exponent(currency))
        assert amount <= charged < amount + unit


class TestOnlyTheGatewayImportsStripe:
    def test_no_other_application_module_imports_stripe(self):
        offenders = []
        for app in ("audit", "customers", "invoices", "finance", "portal", "backoffice", "common", "config"):
            for path in (ROOT / app).rglob("*.py"):
                tree = ast.parse(path.read_text())
                for node in ast.walk(tree):
                    names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                             else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                    if any(n == "stripe" or n.startswith("stripe.") for n in names):
                        offenders.append(str(path.relative_to(ROOT)))
        assert offenders == ["finance/cards/gateway.py"]


@pytest.mark.django_db
class TestAgainstTheFakeStripe:
    def _session(self, **kwargs):
        defaults = {"amount": Decimal("25.001"), "currency": "SGD", "description": "Account top-up",
                    "idempotency_key": "card-payment:test:1", "success_url": "http://testserver/ok?s={CHECKOUT_SESSION_ID}",
                    "cancel_url": "http://testserver/no", "metadata": {"card_payment": "1", "customer": "7"},
                    "customer_email": "ap@example.com"}
        return gateway.checkout_session_create(**{**defaults, **kwargs})

    def test_a_checkout_session_charges_minor_units_rounded_up(self, fake_stripe):
        session = self._session()
        assert session.amount == Decimal("25.01") and session.url.startswith(fake_stripe.url + "/pay/")
        stored = fake_stripe.get(session.id)
        assert stored["amount_total"] == 2501 and stored["currency"] == "sgd" and stored["mode"] == "payment"
        assert stored["metadata"] == {"card_payment": "1", "customer": "7"}
        (request,) = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
        assert request.idempotency_key == "card-payment:test:1"
        assert request.params["payment_intent_data"].get("setup_future_usage") is None

    def test_saving_the_card_asks_for_off_session_use(self, fake_stripe):
        self._session(save_card=True)
        (request,) = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
        assert request.params["payment_intent_data"]["setup_future_usage"] == "off_session"
        assert request.params["customer_creation"] == "always"

    def test_the_same_idempotency_key_gives_the_same_session(self, fake_stripe):
        assert self._session().id == self._session().id

    def test_facts_of_a_paid_session(self, fake_stripe):
        session = self._session(save_card=True)
        unpaid = gateway.checkout_session_facts(session.id)
        assert not unpaid.paid and unpaid.amount == Decimal("25.01")
        fake_stripe.pay_checkout_session(session.id)
        facts = gateway.checkout_session_facts(session.id)
        assert facts.paid and facts.amount == Decimal("25.01") and facts.currency == "SGD"
        assert facts.payment_intent_id.startswith("pi_") and facts.payment_method_id.startswith("pm_")
        assert (facts.card_brand, facts.card_last4) == ("visa", "4242")
        assert facts.stripe_customer_id.startswith("cus_") and facts.metadata["card_payment"] == "1"

    def test_off_session_declines_and_authentication_raise_card_declined(self, fake_stripe):
        session = self._session(save_card=True)
        fake_stripe.pay_checkout_session(session.id)
        customer_id = gateway.checkout_session_facts(session.id).stripe_customer_id
        for card, code in ((DECLINE_GENERIC, "card_declined"), (AUTHENTICATION_ALWAYS, "authentication_required")):
            method = fake_stripe.add_payment_method(customer_id, card)
            with pytest.raises(gateway.CardDeclined) as caught:
                gateway.payment_intent_charge_off_session(
                    amount=Decimal("10"), currency="SGD", stripe_customer_id=customer_id,
                    payment_method_id=method["id"], description="Automatic top-up", metadata={},
                    idempotency_key=f"auto:{card}")
            assert caught.value.code == code and caught.value.payment_intent_id.startswith("pi_")

    def test_an_unreachable_stripe_is_a_gateway_error(self, fake_stripe, settings):
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"
        with pytest.raises(gateway.GatewayError) as caught:
            gateway.checkout_session_facts("cs_test_nothing")
        assert caught.value.code == "connection"

    def test_an_unknown_object_is_resource_missing(self, fake_stripe):
        with pytest.raises(gateway.GatewayError) as caught:
            gateway.checkout_session_facts("cs_test_nothing")
        assert caught.value.code == "resource_missing"
