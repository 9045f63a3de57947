"""Builders for Stripe API objects in their documented shapes (only the fields an integration reads).

Every object has ``id``, ``object``, ``created`` (Unix seconds) and ``livemode: false``; ids use Stripe's
prefixes (``cus_``, ``cs_test_``, ``pi_``, ``pm_``, ``ch_``, ``evt_``, ``li_``, ``price_``, ``prod_``).
Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from .cards import TestCard

StripeObject = dict[str, Any]

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    """Random base62 characters, as in Stripe ids and secrets."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-style id: prefix, underscore, random base62."""
    return f"{prefix}_{random_token(length)}"


def now() -> int:
    return int(time.time())


def customer(
    *,
    email: str | None,
    name: str | None,
    description: str | None,
    phone: str | None,
    metadata: dict[str, str],
    address: dict[str, Any] | None = None,
) -> StripeObject:
    """A Customer (https://docs.stripe.com/api/customers/object)."""
    return {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": address,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "email": email,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata,
        "name": name,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def payment_method(card: TestCard, *, customer_id: str | None, email: str | None) -> StripeObject:
    """A card PaymentMethod (https://docs.stripe.com/api/payment_methods/object); never the full number."""
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": _empty_address(), "email": email, "name": None, "phone": None},
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": time.gmtime().tm_year + 3,
            "fingerprint": card.fingerprint,
            "funding": "credit",
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": now(),
        "customer": customer_id,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def _empty_address() -> dict[str, None]:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def payment_intent(
    *,
    amount: int,
    currency: str,
    customer_id: str | None,
    metadata: dict[str, str],
    description: str | None,
    payment_method_id: str | None,
    setup_future_usage: str | None,
    receipt_email: str | None = None,
    statement_descriptor_suffix: str | None = None,
) -> StripeObject:
    """A PaymentIntent before confirmation (https://docs.stripe.com/api/payment_intents/object)."""
    intent_id = new_id("pi")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{random_token(25)}",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": customer_id,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method_id,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_confirmation" if payment_method_id else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge(
    intent: StripeObject,
    method: StripeObject,
    *,
    failure_code: str | None,
    failure_message: str | None,
    decline_code: str | None,
) -> StripeObject:
    """The Charge a confirmation attempt produces (https://docs.stripe.com/api/charges/object)."""
    paid = failure_code is None
    charge_id = new_id("ch")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if paid else 0,
        "amount_refunded": 0,
        "balance_transaction": new_id("txn") if paid else None,
        "billing_details": method["billing_details"],
        "captured": paid,
        "created": now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "failure_code": failure_code,
        "failure_message": failure_message,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "outcome": {
            "network_status": "approved_by_network" if paid else "declined_by_network",
            "reason": None if paid else decline_code,
            "risk_level": "normal",
            "seller_message": "Payment complete." if paid else "The bank did not return any further details.",
            "type": "authorized" if paid else "issuer_declined",
        },
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": method["id"],
        "payment_method_details": {"card": dict(method["card"]), "type": "card"},
        "receipt_url": f"https://pay.stripe.com/receipts/{charge_id}" if paid else None,
        "refunded": False,
        "status": "succeeded" if paid else "failed",
    }


def checkout_session(
    *,
    amount_subtotal: int,
    currency: str,
    customer_id: str | None,
    customer_email: str | None,
    mode: str,
    success_url: str | None,
    cancel_url: str | None,
    client_reference_id: str | None,
    metadata: dict[str, str],
    locale: str | None,
    expires_at: int | None,
) -> StripeObject:
    """An open hosted Checkout Session (https://docs.stripe.com/api/checkout/sessions/object).

    ``url`` is filled in by the caller: it points at the fake's own hosted page.
    """
    created = now()
    return {
        "id": f"cs_test_a1{random_token(56)}",
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_subtotal,
        "amount_total": amount_subtotal,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_creation": None if customer_id else "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "expires_at": expires_at or created + 24 * 3600,
        "invoice": None,
        "livemode": False,
        "locale": locale,
        "metadata": metadata,
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "setup_intent": None,
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": None,
    }


def line_item(*, name: str, unit_amount: int, quantity: int, currency: str) -> StripeObject:
    """A Checkout line item with its ad-hoc Price (what ``price_data`` creates)."""
    total = unit_amount * quantity
    return {
        "id": new_id("li"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": name,
        "price": {
            "id": new_id("price"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now(),
            "currency": currency,
            "livemode": False,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod", 14),
            "recurring": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        },
        "quantity": quantity,
    }


def list_object(url: str, data: list[StripeObject], has_more: bool) -> StripeObject:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def event(
    *,
    type: str,
    obj: StripeObject,
    api_version: str,
    pending_webhooks: int,
    request_id: str | None,
    idempotency_key: str | None,
) -> StripeObject:
    """A v1 snapshot Event (https://docs.stripe.com/api/events/object); ``data.object`` is a copy."""
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": now(),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }
