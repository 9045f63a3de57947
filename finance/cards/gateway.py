"""Stripe gateway: the ONLY module that imports `stripe`, and the only place where amounts exist in minor
units (cents). Everything it returns is plain data (Decimal amounts, str ids, frozen dataclasses), so the
services never see a Stripe object or an integer amount.

Settings: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_API_BASE (empty: Stripe's own API; tests and
`bin/run` point it at the local fake Stripe server).

Card amounts are rounded UP to the minor unit (12.345 SGD is charged as 12.35); what the card paid is what
gets credited, so the excess becomes credits (DESIGN.md "Money")."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings

# ISO 4217 currencies Stripe charges in whole units, and those with three decimals.
ZERO_DECIMAL_CURRENCIES = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
})
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
WEBHOOK_TOLERANCE_SECONDS = 300
NETWORK_RETRIES = 2  # safe: every POST carries an idempotency key


class GatewayError(Exception):
    """Stripe could not be reached or refused the request. The message is Stripe's own (for the log and the
    audit trail); customers are told in our words (finance.services.cards)."""

    def __init__(self, message: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status  # Stripe's HTTP status (0: no answer)


class CardDeclined(GatewayError):
    """The card was declined or needs the customer to authenticate (off-session: a final failure)."""

    def __init__(self, message: str, *, code: str = "", decline_code: str = "", payment_intent_id: str = "") -> None:
        super().__init__(message, code=code)
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class SignatureError(Exception):
    """A webhook whose Stripe-Signature is missing, wrong, stale, or whose body was tampered with."""


# --- minor units -------------------------------------------------------------------------------------
def exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_minor(amount: Decimal, currency: str) -> int:
    """The card charge for `amount`, in minor units, rounded UP (never charge less than asked)."""
    if not isinstance(amount, Decimal):
        raise TypeError("amount must be a Decimal")
    scaled = (amount * (Decimal(10) ** exponent(currency))).to_integral_value(rounding=ROUND_CEILING)
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    return (Decimal(int(units)) / (Decimal(10) ** exponent(currency))).quantize(Decimal("0.000001"))


def chargeable(amount: Decimal, currency: str) -> Decimal:
    """What the card will actually be charged for `amount` (rounded up to the minor unit), as a Decimal."""
    return from_minor(to_minor(amount, currency), currency)


def display_charge(amount: Decimal, currency: str) -> str:
    """What the card is charged for `amount`, for a page: rounded up to the minor unit and shown with
    exactly its decimals (35.004 SGD -> "35.01"; 1234 JPY -> "1,234"), grouped like money.display."""
    places = exponent(currency)
    charged = chargeable(amount, currency).quantize(Decimal(1).scaleb(-places))
    return f"{charged:,f}"


# --- plain results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    amount: Decimal
    currency: str
    expires_at: dt.datetime | None = None  # when Stripe stops accepting payment on it (24 h by default)


@dataclass(frozen=True)
class PaymentFacts:
    """What Stripe says about one payment (a Checkout Session or a PaymentIntent), read fresh from the API.

    `paid` is True only when the money was received; `amount` is what was received (or asked, when not
    paid), in the currency's major unit."""

    paid: bool
    status: str
    amount: Decimal
    currency: str
    checkout_session_id: str = ""
    payment_intent_id: str = ""
    stripe_customer_id: str = ""
    payment_method_id: str = ""
    card_brand: str = ""
    card_last4: str = ""
    card_exp_month: int = 0
    card_exp_year: int = 0
    failure_message: str = ""
    failure_code: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    session_status: str = ""  # a Checkout Session's own status: open, complete or expired


# --- the client --------------------------------------------------------------------------------------
def _client() -> stripe.StripeClient:
    """Built per call from the settings, so a test can point it at the fake server."""
    kwargs: dict[str, Any] = {"max_network_retries": NETWORK_RETRIES}
    if settings.STRIPE_API_BASE:
        kwargs["base_addresses"] = {"api": settings.STRIPE_API_BASE.rstrip("/")}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **kwargs)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a Stripe object or of a plain dict (events arrive as dicts)."""
    if obj is None:
        return default
    try:
        value = obj[name]
    except (KeyError, TypeError, IndexError):
        return default
    return default if value is None else value


def _id(obj: Any) -> str:
    """An expandable field: either the id string or the expanded object."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    return str(_get(obj, "id", ""))


def _error_message(error: stripe.StripeError) -> str:
    return getattr(error, "user_message", None) or str(error) or "Stripe refused the request."


def _api(call):
    """Run one API call, turning the SDK's exceptions into ours."""
    try:
        return call()
    except stripe.CardError as error:
        body = getattr(error, "json_body", None) or {}
        err = body.get("error", {}) if isinstance(body, dict) else {}
        raise CardDeclined(
            _error_message(error),
            code=getattr(error, "code", "") or err.get("code", "") or "",
            decline_code=err.get("decline_code", "") or "",
            payment_intent_id=_id(err.get("payment_intent")),
        ) from error
    except stripe.APIConnectionError as error:
        raise GatewayError("The card processor could not be reached. Please try again in a moment.",
                           code="connection") from error
    except stripe.StripeError as error:
        raise GatewayError(_error_message(error), code=getattr(error, "code", "") or "",
                           status=getattr(error, "http_status", 0) or 0) from error


def _card_of(payment_method: Any) -> tuple[str, str, int, int]:
    """Brand, last 4 and expiry (month, year; 0 when Stripe gives none) of a card PaymentMethod."""
    card = _get(payment_method, "card")
    return (str(_get(card, "brand", "")), str(_get(card, "last4", "")), _small_int(_get(card, "exp_month", 0)),
            _small_int(_get(card, "exp_year", 0)))


def _small_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if 0 < number < 10000 else 0


def _metadata(obj: Any) -> dict[str, str]:
    meta = _get(obj, "metadata", {}) or {}
    if hasattr(meta, "to_dict"):  # a StripeObject is not a mapping in stripe-python >= 13
        meta = meta.to_dict()
    try:
        return {str(k): str(v) for k, v in dict(meta).items()}
    except (TypeError, ValueError):
        return {}


def _intent_facts(intent: Any, *, checkout_session_id: str = "", metadata: dict | None = None) -> PaymentFacts:
    currency = str(_get(intent, "currency", "")).upper()
    status = str(_get(intent, "status", ""))
    paid = status == "succeeded"
    units = _get(intent, "amount_received", 0) if paid else _get(intent, "amount", 0)
    method = _get(intent, "payment_method")
    error = _get(intent, "last_payment_error")
    if not method and error:
        method = _get(error, "payment_method")
    brand, last4, exp_month, exp_year = _card_of(method) if method and not isinstance(method, str) else ("", "", 0, 0)
    return PaymentFacts(
        paid=paid,
        status=status,
        amount=from_minor(units, currency),
        currency=currency,
        checkout_session_id=checkout_session_id,
        payment_intent_id=_id(intent),
        stripe_customer_id=_id(_get(intent, "customer")),
        payment_method_id=_id(method) if paid else "",
        card_brand=brand,
        card_last4=last4,
        card_exp_month=exp_month if paid else 0,
        card_exp_year=exp_year if paid else 0,
        failure_message=str(_get(error, "message", "")) if error else "",
        failure_code=str(_get(error, "decline_code", "") or _get(error, "code", "")) if error else "",
        metadata={**_metadata(intent), **(metadata or {})},
    )


# --- Checkout Sessions (the hosted payment page) ------------------------------------------------------
def checkout_session_create(*, amount: Decimal, currency: str, description: str, idempotency_key: str,
                            success_url: str, cancel_url: str, metadata: dict[str, str],
                            stripe_customer_id: str = "", customer_email: str = "",
                            save_card: bool = False) -> CheckoutSession:
    """A Checkout Session in payment mode for `amount` (rounded up to the minor unit). With `save_card`
    the card is kept for off-session charges (setup_future_usage=off_session). The metadata goes on both
    the session and its PaymentIntent, so either event leads back to our row."""
    units = to_minor(amount, currency)
    if units <= 0:
        raise GatewayError("The amount to charge must be more than zero.")
    intent_data: dict[str, Any] = {"metadata": metadata, "description": description[:1000]}
    if save_card:
        intent_data["setup_future_usage"] = "off_session"
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{
            "quantity": 1,
            "price_data": {"currency": currency.lower(), "unit_amount": units,
                           "product_data": {"name": description[:250]}},
        }],
        "payment_intent_data": intent_data,
        "metadata": metadata,
        "client_reference_id": metadata.get("card_payment", "")[:200] or None,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if stripe_customer_id:
        params["customer"] = stripe_customer_id
    else:
        params["customer_creation"] = "always"
        if customer_email:
            params["customer_email"] = customer_email
    params = {k: v for k, v in params.items() if v is not None}
    session = _api(lambda: _client().v1.checkout.sessions.create(params, {"idempotency_key": idempotency_key}))
    expires = _get(session, "expires_at")
    return CheckoutSession(id=str(session.id), url=str(session.url or ""), amount=from_minor(units, currency),
                           currency=currency.upper(),
                           expires_at=dt.datetime.fromtimestamp(int(expires), tz=dt.UTC) if expires else None)


def checkout_session_expire(session_id: str) -> PaymentFacts:
    """Make an open Checkout Session unpayable (Stripe's checkout.sessions.expire), then return the session
    as Stripe has it: `paid` when the customer paid it before it could be expired (Stripe refuses to expire
    a session that is not open; that refusal is not an error here, the facts say what it is instead).
    Raises GatewayError when Stripe cannot be reached or does not know the session."""
    try:
        _api(lambda: _client().v1.checkout.sessions.expire(session_id, {}, {"idempotency_key":
                                                                           f"expire:{session_id}"}))
    except CardDeclined:
        raise
    except GatewayError as error:
        if error.status != 400 or error.code == "resource_missing":
            raise
    return checkout_session_facts(session_id)


def checkout_session_facts(session_id: str) -> PaymentFacts:
    """The session as Stripe has it now, with its PaymentIntent and card expanded."""
    session = _api(lambda: _client().v1.checkout.sessions.retrieve(
        session_id, {"expand": ["payment_intent", "payment_intent.payment_method"]}))
    currency = str(_get(session, "currency", "")).upper()
    intent = _get(session, "payment_intent")
    meta = _metadata(session)
    if intent and not isinstance(intent, str):
        facts = _intent_facts(intent, checkout_session_id=str(session.id), metadata=meta)
        paid = facts.paid and _get(session, "payment_status") == "paid"
        return replace(facts, paid=paid, session_status=str(_get(session, "status", "")),
                       stripe_customer_id=facts.stripe_customer_id or _id(_get(session, "customer")))
    return PaymentFacts(
        paid=False,
        status=str(_get(session, "status", "")),
        amount=from_minor(_get(session, "amount_total", 0), currency),
        currency=currency,
        checkout_session_id=str(session.id),
        payment_intent_id=_id(intent),
        stripe_customer_id=_id(_get(session, "customer")),
        metadata=meta,
        session_status=str(_get(session, "status", "")),
    )


# --- PaymentIntents (off-session charges of a saved card) --------------------------------------------
def payment_intent_facts(payment_intent_id: str) -> PaymentFacts:
    intent = _api(lambda: _client().v1.payment_intents.retrieve(
        payment_intent_id, {"expand": ["payment_method"]}))
    return _intent_facts(intent)


def payment_intent_charge_off_session(*, amount: Decimal, currency: str, stripe_customer_id: str,
                                      payment_method_id: str, description: str, metadata: dict[str, str],
                                      idempotency_key: str) -> PaymentFacts:
    """Charge a saved card with the customer away (confirm + off_session). A decline or a card that needs
    authentication raises CardDeclined (a final failure: the customer is not there to authenticate)."""
    units = to_minor(amount, currency)
    if units <= 0:
        raise GatewayError("The amount to charge must be more than zero.")
    params = {
        "amount": units,
        "currency": currency.lower(),
        "customer": stripe_customer_id,
        "payment_method": payment_method_id,
        "confirm": True,
        "off_session": True,
        "description": description[:1000],
        "metadata": metadata,
        "expand": ["payment_method"],
    }
    intent = _api(lambda: _client().v1.payment_intents.create(params, {"idempotency_key": idempotency_key}))
    facts = _intent_facts(intent)
    if not facts.paid:
        raise CardDeclined(
            "The card needs the customer to authenticate this payment." if facts.status == "requires_action"
            else f"The card payment did not complete ({facts.status}).",
            code="authentication_required" if facts.status == "requires_action" else facts.status,
            payment_intent_id=facts.payment_intent_id,
        )
    return facts


def payment_method_detach(payment_method_id: str) -> None:
    """Detach a saved card from its Stripe customer, so it can never be charged again. A card Stripe no
    longer knows or that is attached to nobody counts as detached."""
    try:
        _api(lambda: _client().v1.payment_methods.detach(payment_method_id))
    except GatewayError as error:
        if error.code not in ("resource_missing", "payment_method_unexpected_state"):
            raise


# --- where the customer pays ----------------------------------------------------------------------------
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def checkout_origin() -> str:
    """The origin of the hosted Checkout page (for the CSP form-action of pages whose form leads there):
    Stripe's own, or the local fake's when STRIPE_API_BASE points at it."""
    if settings.STRIPE_API_BASE:
        parts = urlsplit(settings.STRIPE_API_BASE)
        return f"{parts.scheme}://{parts.netloc}"
    return STRIPE_CHECKOUT_ORIGIN


# --- webhooks -----------------------------------------------------------------------------------------
def webhook_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify the Stripe-Signature header on the raw body and return the event as a plain dict.

    Raises SignatureError for a missing header, a wrong secret, a tampered body, a timestamp more than
    WEBHOOK_TOLERANCE_SECONDS in the past or in the future, or a body that is not an event."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, settings.STRIPE_WEBHOOK_SECRET,
                                              WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise SignatureError(str(error).split(".")[0] or "Invalid signature") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise SignatureError("The body is not valid UTF-8 text.") from error
    # The SDK checks only the past; a signature dated ahead of our clock (a captured, pre-signed request,
    # or a secret's holder planning a replay) is refused as well.
    if _signed_at(signature or "") > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise SignatureError("Timestamp is in the future")
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise SignatureError("The body is not JSON.") from error
    if not isinstance(event, dict) or event.get("object") != "event" or not event.get("id") or not event.get("type"):
        raise SignatureError("The body is not a Stripe event.")
    return event


def _signed_at(signature: str) -> int:
    """The t= of a Stripe-Signature header that verify_header accepted (so t= is there and an integer)."""
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            return int(value)
    return 0


def event_object(event: dict[str, Any]) -> dict[str, Any]:
    obj = (event.get("data") or {}).get("object") or {}
    return obj if isinstance(obj, dict) else {}
