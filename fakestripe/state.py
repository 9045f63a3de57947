"""The fake account's objects and the Stripe behaviour behind each endpoint, all under one lock.

Each public method imitates one Stripe operation: it validates params like Stripe (400s before any side
effect), mutates the stored objects, records the events Stripe would emit and returns the object as the
API renders it (a deep copy, with ``expand`` applied). Callers hold no lock; every method takes
``self.lock`` (re-entrant, so the HTTP layer can hold it across an idempotent request).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from . import objects
from .cards import CardRejected, Outcome, TestCard, lookup
from .errors import StripeError, no_such, parameter_invalid, parameter_missing
from .forms import (
    Params,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    expand_paths,
    metadata,
    reject_unknown,
    required,
)
from .objects import StripeObject

# How each object type is named in Stripe's "No such ..." messages.
_KIND_NAMES = {
    "customer": "customer",
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
    "charge": "charge",
    "event": "event",
}
_ID_PREFIXES = {
    "cus_": "customer",
    "cs_": "checkout.session",
    "pi_": "payment_intent",
    "pm_": "payment_method",
    "ch_": "charge",
    "evt_": "event",
}
_EXPANDABLE = {
    "customer",
    "payment_intent",
    "payment_method",
    "latest_charge",
    "charge",
    "line_items",
    "default_payment_method",
    "invoice",
    "setup_intent",
    "subscription",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

CUSTOMER_PARAMS = {
    "address",
    "description",
    "email",
    "expand",
    "metadata",
    "name",
    "phone",
    "preferred_locales",
}
CHECKOUT_PARAMS = {
    "billing_address_collection",
    "cancel_url",
    "client_reference_id",
    "customer",
    "customer_creation",
    "customer_email",
    "expand",
    "expires_at",
    "line_items",
    "locale",
    "metadata",
    "mode",
    "payment_intent_data",
    "payment_method_types",
    "submit_type",
    "success_url",
}
LINE_ITEM_PARAMS = {"price", "price_data", "quantity"}
PRICE_DATA_PARAMS = {"currency", "product", "product_data", "tax_behavior", "unit_amount"}
PRODUCT_DATA_PARAMS = {"description", "images", "metadata", "name", "tax_code"}
INTENT_DATA_PARAMS = {
    "description",
    "metadata",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
}
PAYMENT_INTENT_PARAMS = {
    "amount",
    "capture_method",
    "confirm",
    "currency",
    "customer",
    "description",
    "expand",
    "metadata",
    "off_session",
    "payment_method",
    "payment_method_types",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor_suffix",
}
LIST_PARAMS = {"ending_before", "expand", "limit", "starting_after"}


class EventSink(Protocol):
    """Where new events go for webhook delivery."""

    def has_endpoint(self) -> bool: ...

    def enqueue(self, event: StripeObject) -> None: ...


@dataclass(frozen=True)
class RequestInfo:
    """The API request behind a change; Stripe copies it into ``event.request`` (null for customer actions)."""

    request_id: str | None = None
    idempotency_key: str | None = None


CUSTOMER_ACTION = RequestInfo()


@dataclass(frozen=True)
class CheckoutResult:
    """What the hosted payment page does after the customer presses Pay."""

    ok: bool
    session: StripeObject
    redirect_url: str | None = None
    error: str | None = None


@dataclass
class _CheckoutExtras:
    """Session data Stripe keeps but does not render on the session object."""

    line_items: list[StripeObject]
    intent_data: dict[str, Any]
    customer_creation: str | None
    attempt_intent_id: str | None = None


@dataclass
class _Decline:
    code: str
    decline_code: str
    message: str


@dataclass
class _Store:
    objects: dict[str, StripeObject] = field(default_factory=dict)
    events: list[StripeObject] = field(default_factory=list)
    checkout: dict[str, _CheckoutExtras] = field(default_factory=dict)
    cards: dict[str, TestCard] = field(default_factory=dict)  # payment method id -> its test card
    spent: set[str] = field(default_factory=set)  # unattached payment methods already used once


class StripeState:
    """All objects of one fake Stripe test-mode account."""

    def __init__(self, *, api_version: str, sink: EventSink, hosted_page_url: Callable[[str], str]) -> None:
        self.lock = threading.RLock()
        self._api_version = api_version
        self._sink = sink
        self._hosted_page_url = hosted_page_url
        self._store = _Store()

    # lookups ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every object and event."""
        with self.lock:
            self._store = _Store()

    def peek(self, object_id: str) -> StripeObject | None:
        """A copy of any stored object (or event) by id, for tests."""
        with self.lock:
            found = self._store.objects.get(object_id)
            return copy.deepcopy(found) if found is not None else None

    @property
    def events(self) -> list[StripeObject]:
        with self.lock:
            return copy.deepcopy(self._store.events)

    def _get(self, kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeObject:
        found = self._store.objects.get(object_id)
        if found is None or found["object"] != kind:
            raise no_such(_KIND_NAMES[kind], object_id, param=param, status=status)
        return found

    def retrieve(self, kind: str, object_id: str, params: Params) -> StripeObject:
        """``GET /v1/<resource>/{id}``: 404 ``resource_missing`` for an unknown id; honours ``expand``."""
        reject_unknown(params, {"expand"})
        with self.lock:
            found = self._get(kind, object_id)
            if kind == "checkout.session":
                self._lapse(found)
            return self._render(found, expand_paths(params))

    # rendering and expansion -----------------------------------------------------------------------
    def _render(self, obj: StripeObject, paths: Iterable[str]) -> StripeObject:
        rendered = copy.deepcopy(obj)
        for path in paths:
            self._expand(rendered, path.split("."))
        return rendered

    def _expand(self, node: StripeObject, segments: list[str]) -> None:
        """Stripe's ``expand``: replace an id with its object, following dotted paths (``data.`` in lists)."""
        head, rest = segments[0], segments[1:]
        if node.get("object") == "list" and head == "data" and rest:
            for item in node["data"]:
                self._expand(item, rest)
            return
        if head == "line_items" and node.get("object") == "checkout.session":
            node["line_items"] = self._line_items(node["id"])
        if head not in node:
            raise StripeError(400, f"This property cannot be expanded ({head}).")
        value = node[head]
        if head in _EXPANDABLE and isinstance(value, str) and value in self._store.objects:
            value = node[head] = copy.deepcopy(self._store.objects[value])
        elif head not in _EXPANDABLE and not (rest and isinstance(value, dict)):
            raise StripeError(400, f"This property cannot be expanded ({head}).")
        if rest and isinstance(value, dict):
            self._expand(value, rest)

    def _line_items(self, session_id: str) -> StripeObject:
        items = copy.deepcopy(self._store.checkout[session_id].line_items)
        return objects.list_object(f"/v1/checkout/sessions/{session_id}/line_items", items, False)

    # events ----------------------------------------------------------------------------------------
    def _emit(self, event_type: str, obj: StripeObject, request: RequestInfo) -> None:
        """Record an event as Stripe does: a snapshot of the object at the time of the change."""
        event = objects.event(
            type=event_type,
            obj=copy.deepcopy(obj),
            api_version=self._api_version,
            pending_webhooks=1 if self._sink.has_endpoint() else 0,
            request_id=request.request_id,
            idempotency_key=request.idempotency_key,
        )
        self._store.events.append(event)
        self._store.objects[event["id"]] = event
        self._sink.enqueue(event)

    def list_events(self, params: Params) -> StripeObject:
        """``GET /v1/events``: newest first, filterable by ``type``."""
        reject_unknown(params, LIST_PARAMS | {"type", "created"})
        with self.lock:
            wanted = params.get("type")
            events = [e for e in reversed(self._store.events) if wanted in (None, e["type"])]
            return self._page("/v1/events", events, params)

    def _page(self, url: str, items: list[StripeObject], params: Params) -> StripeObject:
        """Stripe's cursor pagination: ``limit`` (1-100, default 10) and ``starting_after``."""
        limit = as_int(params.get("limit", 10), "limit", minimum=1)
        if limit > 100:
            raise parameter_invalid("limit", "This value must be less than or equal to 100.")
        after = params.get("starting_after")
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise no_such(
                    _KIND_NAMES.get(_kind_of(after), "object"), after, param="starting_after", status=400
                )
            items = items[ids.index(after) + 1 :]
        page = [copy.deepcopy(item) for item in items[:limit]]
        listing = objects.list_object(url, page, has_more=len(items) > limit)
        for path in expand_paths(params):
            self._expand(listing, path.split("."))
        return listing

    # customers -------------------------------------------------------------------------------------
    def create_customer(self, params: Params, request: RequestInfo) -> StripeObject:
        """``POST /v1/customers``: every param optional; emits ``customer.created``."""
        reject_unknown(params, CUSTOMER_PARAMS)
        email = _optional_str(params, "email")
        if email is not None and not _EMAIL.match(email):
            raise parameter_invalid("email", f"Invalid email address: {email}", "email_invalid")
        address = as_dict(params["address"], "address") if params.get("address") else None
        customer = objects.customer(
            email=email,
            name=_optional_str(params, "name", 256),
            description=_optional_str(params, "description", 350),
            phone=_optional_str(params, "phone", 20),
            metadata=metadata(params.get("metadata")),
            address=address,
        )
        if params.get("preferred_locales"):
            customer["preferred_locales"] = [
                as_str(v, "preferred_locales")
                for v in as_list(params["preferred_locales"], "preferred_locales")
            ]
        with self.lock:
            self._store.objects[customer["id"]] = customer
            self._emit("customer.created", customer, request)
            return self._render(customer, expand_paths(params))

    def list_customer_payment_methods(self, customer_id: str, params: Params) -> StripeObject:
        """``GET /v1/customers/{id}/payment_methods``: the customer's attached methods, newest first."""
        reject_unknown(params, LIST_PARAMS | {"type", "allow_redisplay"})
        with self.lock:
            self._get("customer", customer_id)
            wanted = params.get("type")
            methods = [
                obj
                for obj in reversed(self._store.objects.values())
                if obj["object"] == "payment_method"
                and obj["customer"] == customer_id
                and wanted in (None, obj["type"])
            ]
            return self._page(f"/v1/customers/{customer_id}/payment_methods", methods, params)

    def add_payment_method(self, customer_id: str, card_number: str) -> StripeObject:
        """Test helper: a card saved on the customer, like Stripe's ``pm_card_*`` test methods attached.

        Any test card is accepted, decline cards included (as Stripe's ``pm_card_chargeCustomerFail``),
        so later off-session charges show that card's outcome. Emits ``payment_method.attached``.
        """
        card = lookup(card_number)
        with self.lock:
            customer = self._get("customer", customer_id, param="customer", status=400)
            method = self._new_payment_method(card, customer_id, customer["email"])
            self._emit("payment_method.attached", method, CUSTOMER_ACTION)
            return copy.deepcopy(method)

    def detach_payment_method(self, method_id: str, params: Params, request: RequestInfo) -> StripeObject:
        """``POST /v1/payment_methods/{id}/detach``: the card leaves its customer for good (it can never be
        charged or attached again); a method attached to nobody is a 400. Emits ``payment_method.detached``."""
        reject_unknown(params, {"expand"})
        with self.lock:
            method = self._get("payment_method", method_id)
            if method["customer"] is None:
                raise StripeError(
                    400,
                    "The payment method you provided is not attached to a customer so detachment is impossible.",
                    code="payment_method_unexpected_state",
                )
            method["customer"] = None
            self._store.spent.add(method_id)
            self._emit("payment_method.detached", method, request)
            return self._render(method, expand_paths(params))

    def _new_payment_method(self, card: TestCard, customer_id: str | None, email: str | None) -> StripeObject:
        method = objects.payment_method(card, customer_id=customer_id, email=email)
        self._store.objects[method["id"]] = method
        self._store.cards[method["id"]] = card
        return method

    # checkout sessions -----------------------------------------------------------------------------
    def create_checkout_session(self, params: Params, request: RequestInfo) -> StripeObject:
        """``POST /v1/checkout/sessions`` in ``mode=payment`` with ad-hoc ``price_data`` line items."""
        reject_unknown(params, CHECKOUT_PARAMS)
        mode = as_str(required(params, "mode"), "mode")
        if mode not in ("payment", "setup", "subscription"):
            raise parameter_invalid("mode", "Invalid mode: must be one of payment, setup, or subscription")
        if mode != "payment":
            raise parameter_invalid("mode", f"fakestripe only implements mode=payment, not mode={mode}")
        if params.get("customer") and params.get("customer_email"):
            raise StripeError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                code="parameters_exclusive",
                param="customer",
            )
        for name in ("success_url", "cancel_url"):
            if params.get(name) is not None:
                _check_url(params[name], name)
        _check_payment_method_types(params.get("payment_method_types"))
        line_items, currency = _checkout_line_items(params.get("line_items"))
        intent_data = _intent_data(params.get("payment_intent_data"))
        customer_creation = _optional_str(params, "customer_creation")
        if customer_creation not in (None, "always", "if_required"):
            raise parameter_invalid(
                "customer_creation", "Invalid customer_creation: must be one of always or if_required"
            )
        email = _optional_str(params, "customer_email")
        with self.lock:
            customer_id = _optional_str(params, "customer")
            if customer_id is not None:
                self._get("customer", customer_id, param="customer", status=400)
            session = objects.checkout_session(
                amount_subtotal=sum(item["amount_total"] for item in line_items),
                currency=currency,
                customer_id=customer_id,
                customer_email=email,
                mode=mode,
                success_url=_optional_str(params, "success_url"),
                cancel_url=_optional_str(params, "cancel_url"),
                client_reference_id=_optional_str(params, "client_reference_id", 200),
                metadata=metadata(params.get("metadata")),
                locale=_optional_str(params, "locale"),
                expires_at=as_int(params["expires_at"], "expires_at") if params.get("expires_at") else None,
            )
            if customer_creation is not None:
                session["customer_creation"] = customer_creation
            session["url"] = self._hosted_page_url(session["id"])
            self._store.objects[session["id"]] = session
            self._store.checkout[session["id"]] = _CheckoutExtras(line_items, intent_data, customer_creation)
            return self._render(session, expand_paths(params))

    def expire_checkout_session(self, session_id: str, params: Params, request: RequestInfo) -> StripeObject:
        """``POST /v1/checkout/sessions/{id}/expire``: an open session can no longer be paid (status
        ``expired``, emits ``checkout.session.expired``); a session that is not open is a 400, as at Stripe
        (a paid one stays paid)."""
        reject_unknown(params, {"expand"})
        with self.lock:
            session = self._get("checkout.session", session_id)
            self._lapse(session)
            if session["status"] != "open":
                raise StripeError(
                    400,
                    'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session '
                    f'has a status of "{session["status"]}".',
                )
            self._expire(session, request)
            return self._render(session, expand_paths(params))

    def _lapse(self, session: StripeObject) -> None:
        """Stripe expires an open session by itself once its ``expires_at`` has passed."""
        if session["status"] == "open" and session["expires_at"] <= objects.now():
            self._expire(session, CUSTOMER_ACTION)

    def _expire(self, session: StripeObject, request: RequestInfo) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session, request)

    def checkout_view(self, session_id: str) -> tuple[StripeObject, list[StripeObject]]:
        """The session and its line items, for the hosted page (``LookupError`` if unknown)."""
        with self.lock:
            session = self._checkout_session(session_id)
            self._lapse(session)
            return copy.deepcopy(session), copy.deepcopy(self._store.checkout[session_id].line_items)

    def _checkout_session(self, session_id: str) -> StripeObject:
        session = self._store.objects.get(session_id)
        if session is None or session["object"] != "checkout.session":
            raise LookupError(session_id)
        return session

    def pay_checkout_session(self, session_id: str, card_number: str) -> CheckoutResult:
        """The customer submits the hosted payment form with a card.

        Imitates Stripe Checkout in payment mode: the PaymentIntent is created at the first attempt and
        reused by later ones; a decline leaves the session open, the intent ``requires_payment_method``
        and emits ``payment_intent.payment_failed``. Success charges the card (3D Secure cards count as
        authenticated by the customer), attaches the card to the customer when
        ``setup_future_usage`` was asked, completes the session and emits ``payment_intent.succeeded``
        then ``checkout.session.completed``.
        """
        with self.lock:
            session = self._checkout_session(session_id)
            self._lapse(session)
            if session["status"] != "open":
                return CheckoutResult(
                    False, copy.deepcopy(session), error="This Checkout Session is no longer active."
                )
            try:
                card = lookup(card_number)
            except CardRejected as rejected:
                return CheckoutResult(False, copy.deepcopy(session), error=rejected.message)
            extras = self._store.checkout[session_id]
            customer_id = self._checkout_customer(session, extras)
            intent = self._checkout_intent(session, extras, customer_id)
            email = session["customer_email"] or self._customer_email(customer_id)
            method = self._new_payment_method(card, None, email)
            decline = _checkout_decline(card)
            if decline is not None:
                self._fail_intent(intent, method, decline, CUSTOMER_ACTION)
                return CheckoutResult(False, copy.deepcopy(session), error=decline.message)
            if intent["setup_future_usage"] and customer_id:
                method["customer"] = customer_id
                self._emit("payment_method.attached", method, CUSTOMER_ACTION)
            else:
                self._store.spent.add(method["id"])
            self._succeed_intent(intent, method, CUSTOMER_ACTION)
            self._complete_session(session, intent, customer_id, email)
            redirect = session["success_url"]
            if redirect:
                redirect = redirect.replace("{CHECKOUT_SESSION_ID}", session_id)
            return CheckoutResult(True, copy.deepcopy(session), redirect_url=redirect)

    def _customer_email(self, customer_id: str | None) -> str | None:
        return self._store.objects[customer_id]["email"] if customer_id else None

    def _checkout_customer(self, session: StripeObject, extras: _CheckoutExtras) -> str | None:
        """Checkout creates a Customer when asked to (``always``) or when the card is to be saved."""
        if session["customer"]:
            return session["customer"]
        wants = extras.customer_creation == "always" or extras.intent_data.get("setup_future_usage")
        if not wants:
            return None
        customer = objects.customer(
            email=session["customer_email"], name=None, description=None, phone=None, metadata={}
        )
        self._store.objects[customer["id"]] = customer
        self._emit("customer.created", customer, CUSTOMER_ACTION)
        return customer["id"]

    def _checkout_intent(
        self, session: StripeObject, extras: _CheckoutExtras, customer_id: str | None
    ) -> StripeObject:
        if extras.attempt_intent_id is not None:
            return self._store.objects[extras.attempt_intent_id]
        data = extras.intent_data
        intent = objects.payment_intent(
            amount=session["amount_total"],
            currency=session["currency"],
            customer_id=customer_id,
            metadata=dict(data.get("metadata", {})),
            description=data.get("description"),
            payment_method_id=None,
            setup_future_usage=data.get("setup_future_usage"),
            receipt_email=data.get("receipt_email"),
            statement_descriptor_suffix=data.get("statement_descriptor_suffix"),
        )
        self._store.objects[intent["id"]] = intent
        extras.attempt_intent_id = intent["id"]
        self._emit("payment_intent.created", intent, CUSTOMER_ACTION)
        return intent

    def _complete_session(
        self, session: StripeObject, intent: StripeObject, customer_id: str | None, email: str | None
    ) -> None:
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=intent["id"],
            customer=customer_id,
            url=None,  # Stripe only renders the url while the session is open
            customer_details={
                "address": None,
                "email": email,
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        self._emit("checkout.session.completed", session, CUSTOMER_ACTION)

    # payment intents -------------------------------------------------------------------------------
    def create_payment_intent(self, params: Params, request: RequestInfo) -> StripeObject:
        """``POST /v1/payment_intents``, typically ``confirm=true, off_session=true`` with a saved card.

        Emits ``payment_intent.created``; on confirmation, success (200, ``succeeded``), a decline or
        ``authentication_required`` off-session (402 ``card_error`` carrying ``payment_intent``, intent
        left ``requires_payment_method``), or ``requires_action`` on-session for 3D Secure cards.
        """
        reject_unknown(params, PAYMENT_INTENT_PARAMS)
        amount = as_int(required(params, "amount"), "amount", minimum=1)
        currency = _currency(required(params, "currency"), "currency")
        confirm = as_bool(params.get("confirm", "false"), "confirm")
        off_session = _off_session(params.get("off_session"))
        if off_session and not confirm:
            raise parameter_invalid("off_session", "You can only pass `off_session` when `confirm` is true.")
        _check_payment_method_types(params.get("payment_method_types"))
        capture = _optional_str(params, "capture_method")
        if capture not in (None, "automatic", "automatic_async"):
            raise parameter_invalid("capture_method", "fakestripe only implements automatic capture")
        sfu = _setup_future_usage(params.get("setup_future_usage"), "setup_future_usage")
        with self.lock:
            customer_id = _optional_str(params, "customer")
            if customer_id is not None:
                self._get("customer", customer_id, param="customer", status=400)
            method = self._usable_payment_method(_optional_str(params, "payment_method"), customer_id)
            if confirm and method is None:
                raise StripeError(
                    400,
                    "You cannot confirm this PaymentIntent because it's missing a payment method. "
                    "Specify a payment method attached to the customer along with the customer ID.",
                    code="payment_intent_unexpected_state",
                    param="payment_method",
                )
            intent = objects.payment_intent(
                amount=amount,
                currency=currency,
                customer_id=customer_id,
                metadata=metadata(params.get("metadata")),
                description=_optional_str(params, "description", 1000),
                payment_method_id=method["id"] if method else None,
                setup_future_usage=sfu,
                receipt_email=_optional_str(params, "receipt_email"),
                statement_descriptor_suffix=_optional_str(params, "statement_descriptor_suffix", 22),
            )
            self._store.objects[intent["id"]] = intent
            self._emit("payment_intent.created", intent, request)
            if confirm and method is not None:
                self._confirm(intent, method, off_session, request)
            return self._render(intent, expand_paths(params))

    def _usable_payment_method(self, method_id: str | None, customer_id: str | None) -> StripeObject | None:
        """Stripe's checks that a saved card may be charged for this customer."""
        if method_id is None:
            return None
        method = self._get("payment_method", method_id, param="payment_method", status=400)
        owner = method["customer"]
        if owner is not None and customer_id is None:
            raise parameter_invalid(
                "payment_method",
                "The provided PaymentMethod is attached to a Customer; the `customer` parameter is required.",
            )
        if owner is not None and owner != customer_id:
            raise parameter_invalid(
                "payment_method", f"The provided PaymentMethod belongs to a different Customer ({owner})."
            )
        if owner is None and method_id in self._store.spent:
            raise parameter_invalid(
                "payment_method",
                "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
                "attachment, shared with a connected account without Customer attachment, or was detached "
                "from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must "
                "attach it to a Customer first.",
            )
        return method

    def _confirm(
        self, intent: StripeObject, method: StripeObject, off_session: bool, request: RequestInfo
    ) -> None:
        card = self._store.cards[method["id"]]
        if method["customer"] is None:
            self._store.spent.add(method["id"])
        needs_auth = card.outcome is Outcome.ALWAYS_AUTHENTICATE or (
            card.outcome is Outcome.AUTHENTICATE_ON_SESSION and not off_session
        )
        if needs_auth and not off_session:
            next_action = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            intent.update(status="requires_action", next_action=next_action)
            self._emit("payment_intent.requires_action", intent, request)
            return
        if needs_auth:
            decline = _Decline(
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            )
        elif card.outcome in (Outcome.DECLINE, Outcome.ATTACH_THEN_DECLINE):
            decline = _Decline(
                "card_declined",
                card.decline_code or "generic_decline",
                card.message or "Your card was declined.",
            )
        else:
            self._succeed_intent(intent, method, request)
            return
        charge = self._fail_intent(intent, method, decline, request)
        raise StripeError(
            402,
            decline.message,
            type="card_error",
            code=decline.code,
            decline_code=decline.decline_code,
            charge=charge["id"],
            payment_intent=copy.deepcopy(intent),
            payment_method=copy.deepcopy(method),
        )

    def _succeed_intent(self, intent: StripeObject, method: StripeObject, request: RequestInfo) -> None:
        charge = objects.charge(
            intent | {"payment_method": method["id"]},
            method,
            failure_code=None,
            failure_message=None,
            decline_code=None,
        )
        self._store.objects[charge["id"]] = charge
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            latest_charge=charge["id"],
            payment_method=method["id"],
            last_payment_error=None,
            next_action=None,
        )
        self._emit("payment_intent.succeeded", intent, request)

    def _fail_intent(
        self, intent: StripeObject, method: StripeObject, decline: _Decline, request: RequestInfo
    ) -> StripeObject:
        """A failed attempt: failed charge, intent back to ``requires_payment_method`` with the error."""
        charge = objects.charge(
            intent,
            method,
            failure_code=decline.code,
            failure_message=decline.message,
            decline_code=decline.decline_code,
        )
        self._store.objects[charge["id"]] = charge
        intent.update(
            status="requires_payment_method",
            payment_method=None,  # Stripe moves the failed method into last_payment_error
            latest_charge=charge["id"],
            next_action=None,
            last_payment_error={
                "type": "card_error",
                "code": decline.code,
                "decline_code": decline.decline_code,
                "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
                "message": decline.message,
                "charge": charge["id"],
                "payment_method": copy.deepcopy(method),
            },
        )
        self._emit("payment_intent.payment_failed", intent, request)
        return charge


# parameter helpers -------------------------------------------------------------------------------------
def _kind_of(object_id: str) -> str:
    return next((kind for prefix, kind in _ID_PREFIXES.items() if object_id.startswith(prefix)), "object")


def _optional_str(params: Params, name: str, max_length: int | None = None) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    return as_str(value, name, max_length=max_length)


def _currency(value: Any, name: str) -> str:
    text = as_str(value, name).lower()
    if not re.fullmatch(r"[a-z]{3}", text):
        raise parameter_invalid(name, f"Invalid currency: {text}.")
    return text


def _off_session(value: Any) -> bool:
    """``off_session`` is a boolean or ``one_off`` / ``recurring``."""
    if value in ("one_off", "recurring"):
        return True
    return False if value is None else as_bool(value, "off_session")


def _setup_future_usage(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in ("off_session", "on_session"):
        raise parameter_invalid(name, f"Invalid {name}: must be one of off_session or on_session")
    return value


def _check_url(value: Any, name: str) -> None:
    parts = urlsplit(as_str(value, name))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise parameter_invalid(name, "Not a valid URL", "url_invalid")


def _check_payment_method_types(value: Any) -> None:
    if value is None:
        return
    for index, kind in enumerate(as_list(value, "payment_method_types")):
        if kind != "card":
            raise parameter_invalid(
                f"payment_method_types[{index}]",
                f"The payment method type provided: {kind} is invalid. fakestripe only implements card.",
                "payment_method_invalid_parameter",
            )


def _checkout_line_items(value: Any) -> tuple[list[StripeObject], str]:
    """Validate ``line_items[i][price_data|quantity]``; all items must share one currency."""
    if value is None or value == "":
        raise parameter_missing("line_items")
    items: list[StripeObject] = []
    currencies: set[str] = set()
    for index, raw in enumerate(as_list(value, "line_items")):
        prefix = f"line_items[{index}]"
        entry = as_dict(raw, prefix)
        reject_unknown(entry, LINE_ITEM_PARAMS, prefix)
        if entry.get("price"):
            raise no_such("price", str(entry["price"]), param=f"{prefix}[price]", status=400)
        quantity = as_int(required(entry, "quantity", prefix), f"{prefix}[quantity]", minimum=1)
        price_data = as_dict(required(entry, "price_data", prefix), f"{prefix}[price_data]")
        name, unit_amount, currency = _price_data(price_data, f"{prefix}[price_data]")
        currencies.add(currency)
        items.append(
            objects.line_item(name=name, unit_amount=unit_amount, quantity=quantity, currency=currency)
        )
    if not items:
        raise parameter_missing("line_items")
    if len(currencies) > 1:
        raise parameter_invalid("line_items", "All line items must use the same currency.")
    return items, currencies.pop()


def _price_data(data: dict[str, Any], prefix: str) -> tuple[str, int, str]:
    reject_unknown(data, PRICE_DATA_PARAMS, prefix)
    currency = _currency(required(data, "currency", prefix), f"{prefix}[currency]")
    unit_amount = as_int(required(data, "unit_amount", prefix), f"{prefix}[unit_amount]", minimum=0)
    if data.get("product"):
        raise no_such("product", str(data["product"]), param=f"{prefix}[product]", status=400)
    product = as_dict(required(data, "product_data", prefix), f"{prefix}[product_data]")
    reject_unknown(product, PRODUCT_DATA_PARAMS, f"{prefix}[product_data]")
    name = as_str(required(product, "name", f"{prefix}[product_data]"), f"{prefix}[product_data][name]")
    return name, unit_amount, currency


def _intent_data(value: Any) -> dict[str, Any]:
    """``payment_intent_data``: what Checkout copies onto the PaymentIntent it creates."""
    if value is None or value == "":
        return {}
    data = as_dict(value, "payment_intent_data")
    reject_unknown(data, INTENT_DATA_PARAMS, "payment_intent_data")
    result: dict[str, Any] = {"metadata": metadata(data.get("metadata"), "payment_intent_data[metadata]")}
    sfu = _setup_future_usage(data.get("setup_future_usage"), "payment_intent_data[setup_future_usage]")
    if sfu:
        result["setup_future_usage"] = sfu
    for name in ("description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix"):
        if data.get(name):
            result[name] = as_str(data[name], f"payment_intent_data[{name}]")
    return result


def _checkout_decline(card: TestCard) -> _Decline | None:
    """On the hosted page only decline cards fail; 3D Secure cards pass the customer's challenge."""
    if card.outcome in (Outcome.DECLINE, Outcome.ATTACH_THEN_DECLINE):
        return _Decline(
            "card_declined", card.decline_code or "generic_decline", card.message or "Your card was declined."
        )
    return None
