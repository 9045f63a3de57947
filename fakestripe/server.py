"""A fake Stripe API server on 127.0.0.1, for tests and local development.

Speaks the v1 HTTP API the official SDK speaks (form-encoded requests with bracketed keys, Bearer API
key, ``Idempotency-Key`` and ``Stripe-Version`` headers, JSON responses and Stripe's error envelope),
serves a hosted checkout page, and delivers signed webhooks.

    server = FakeStripe(webhook_url="http://127.0.0.1:8000/stripe/webhook/").start()
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
    ...
    server.stop()
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from . import checkout_page, webhooks
from .cards import SUCCESS_VISA
from .errors import StripeError, idempotency_mismatch, unrecognized_url
from .forms import Params, parse_form
from .objects import StripeObject, new_id
from .state import CheckoutResult, RequestInfo, StripeState
from .webhooks import Delivery, WebhookDispatcher

# The version stripe-python 16.1 pins (stripe._api_version._ApiVersion.CURRENT); events carry it.
DEFAULT_API_VERSION = "2026-10-28.endive"

logger = logging.getLogger("fakestripe")

Handler = Callable[[StripeState, dict[str, str], Params, RequestInfo], StripeObject]

# (method, path pattern, handler). A handler gets the state, the url-decoded path ids, the decoded params
# (query string, plus the form body for POST) and the request's id and idempotency key.
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (
        "POST",
        re.compile(r"/v1/customers"),
        lambda state, ids, params, req: state.create_customer(params, req),
    ),
    (
        "GET",
        re.compile(r"/v1/customers/(?P<id>[^/]+)"),
        lambda state, ids, params, req: state.retrieve("customer", ids["id"], params),
    ),
    (
        "GET",
        re.compile(r"/v1/customers/(?P<id>[^/]+)/payment_methods"),
        lambda state, ids, params, req: state.list_customer_payment_methods(ids["id"], params),
    ),
    (
        "POST",
        re.compile(r"/v1/checkout/sessions"),
        lambda state, ids, params, req: state.create_checkout_session(params, req),
    ),
    (
        "GET",
        re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)"),
        lambda state, ids, params, req: state.retrieve("checkout.session", ids["id"], params),
    ),
    (
        "POST",
        re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)/expire"),
        lambda state, ids, params, req: state.expire_checkout_session(ids["id"], params, req),
    ),
    (
        "POST",
        re.compile(r"/v1/payment_intents"),
        lambda state, ids, params, req: state.create_payment_intent(params, req),
    ),
    (
        "GET",
        re.compile(r"/v1/payment_intents/(?P<id>[^/]+)"),
        lambda state, ids, params, req: state.retrieve("payment_intent", ids["id"], params),
    ),
    (
        "GET",
        re.compile(r"/v1/payment_methods/(?P<id>[^/]+)"),
        lambda state, ids, params, req: state.retrieve("payment_method", ids["id"], params),
    ),
    (
        "POST",
        re.compile(r"/v1/payment_methods/(?P<id>[^/]+)/detach"),
        lambda state, ids, params, req: state.detach_payment_method(ids["id"], params, req),
    ),
    (
        "GET",
        re.compile(r"/v1/charges/(?P<id>[^/]+)"),
        lambda state, ids, params, req: state.retrieve("charge", ids["id"], params),
    ),
    ("GET", re.compile(r"/v1/events"), lambda state, ids, params, req: state.list_events(params)),
    (
        "GET",
        re.compile(r"/v1/events/(?P<id>[^/]+)"),
        lambda state, ids, params, req: state.retrieve("event", ids["id"], params),
    ),
]


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the fake saw it (for asserting on what an integration sent)."""

    method: str
    path: str
    params: Params
    idempotency_key: str | None
    stripe_version: str | None
    status: int
    request_id: str


@dataclass
class _Failure:
    """An error the fake answers instead of handling a request (``FakeStripe.fail_next``)."""

    method: str
    path: re.Pattern[str]
    error: StripeError
    times: int


@dataclass
class _Response:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class _Saved:
    fingerprint: str
    response: _Response


class IdempotencyCache:
    """Stripe's idempotent requests: the first result for a key is replayed for the same request.

    Reusing a key with a different method, path or params is a 400 ``idempotency_error``. Results are
    saved only once the endpoint started executing (success or a card error), never for validation
    errors, as Stripe documents. Keys do not expire here (Stripe keeps them 24 hours).
    """

    def __init__(self) -> None:
        self._saved: dict[str, _Saved] = {}

    @staticmethod
    def fingerprint(method: str, path: str, params: Params) -> str:
        return json.dumps([method, path, params], sort_keys=True)

    def replay(self, key: str, fingerprint: str) -> _Response | None:
        saved = self._saved.get(key)
        if saved is None:
            return None
        if saved.fingerprint != fingerprint:
            raise idempotency_mismatch(key)
        return _Response(saved.response.status, saved.response.body, replayed=True)

    def save(self, key: str, fingerprint: str, response: _Response) -> None:
        if response.status in (200, 402):
            self._saved[key] = _Saved(fingerprint, response)

    def clear(self) -> None:
        self._saved.clear()


class FakeStripe:
    """A running fake Stripe: API under ``/v1``, hosted checkout under ``/pay``, webhooks to one endpoint.

    ``webhook_url``/``webhook_secret`` describe the one webhook endpoint (None: no endpoint, events are
    only recorded). ``public_url`` is the base for hosted-page links handed to browsers (default: the
    server's own url). ``auto_deliver`` posts events from a background thread as they happen; switch it
    off to deliver with ``deliver_pending()`` or to post ``webhook_request(event)`` through a test client.
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_test",
        public_url: str | None = None,
        *,
        port: int = 0,
        auto_deliver: bool = True,
        api_version: str = DEFAULT_API_VERSION,
        log_requests: bool = False,
    ) -> None:
        self._port = port
        self._public_url = public_url.rstrip("/") if public_url else None
        self.api_version = api_version
        self.log_requests = log_requests
        self._dispatcher = WebhookDispatcher(webhook_url, webhook_secret, auto_deliver=auto_deliver)
        self._state = StripeState(
            api_version=api_version,
            sink=self._dispatcher,
            hosted_page_url=lambda session_id: f"{self.public_url}/pay/{session_id}",
        )
        self._idempotency = IdempotencyCache()
        self._requests: list[RequestRecord] = []
        self._failures: list[_Failure] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FakeStripe:
        """Bind 127.0.0.1 (port 0: the OS picks one), serve in a daemon thread, return self."""
        if self._httpd is not None:
            raise RuntimeError("FakeStripe is already running")
        self._httpd = _HTTPServer(("127.0.0.1", self._port), _RequestHandler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakestripe-http",
            daemon=True,
        )
        self._thread.start()
        self._dispatcher.start()
        return self

    def stop(self) -> None:
        """Stop serving and delivering; state is kept (``start`` again binds a new port unless fixed)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._dispatcher.stop()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (used by ``python -m fakestripe``)."""
        if self._httpd is None:
            self.start()
        try:
            assert self._thread is not None
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> FakeStripe:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # addresses -------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeStripe is not running: call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base url for ``StripeClient(base_addresses={"api": server.url})``, e.g. http://127.0.0.1:43121."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_url(self) -> str:
        """Base of the hosted checkout links (``session.url``)."""
        return self._public_url or self.url

    # webhooks --------------------------------------------------------------------------------------
    @property
    def webhook_url(self) -> str | None:
        return self._dispatcher.url

    @property
    def webhook_secret(self) -> str:
        return self._dispatcher.secret

    def set_webhook(self, url: str | None, secret: str | None = None) -> None:
        """Point the webhook endpoint at ``url`` (None removes it); keep the secret unless given."""
        self._dispatcher.configure(url, secret)

    @property
    def auto_deliver(self) -> bool:
        return self._dispatcher.auto_deliver

    @auto_deliver.setter
    def auto_deliver(self, value: bool) -> None:
        self._dispatcher.auto_deliver = value

    def deliver_pending(self) -> list[Delivery]:
        """Post every queued event to the webhook url now, in the calling thread; returns the attempts."""
        return self._dispatcher.deliver_pending()

    def resend(self, event: StripeObject | str) -> Delivery:
        """Post an event (or event id) to the webhook url again now, as the Dashboard's "Resend" does."""
        return self._dispatcher.send_now(self._event(event))

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """With auto delivery: block until every queued event has been posted (False on timeout)."""
        return self._dispatcher.wait_idle(timeout)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt so far, in order."""
        return self._dispatcher.deliveries

    def sign_payload(self, payload: str | bytes, timestamp: int | None = None) -> str:
        """A ``Stripe-Signature`` header value for ``payload`` with the webhook secret."""
        return webhooks.sign(payload, self.webhook_secret, timestamp)

    def webhook_request(self, event: StripeObject | str) -> tuple[bytes, dict[str, str]]:
        """Body and headers of the webhook Stripe would send for ``event`` (an event or its id).

        For posting through a test client, e.g. Django's:
        ``client.post(url, body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])``.
        """
        payload = webhooks.serialize_event(self._event(event))
        return payload.encode("utf-8"), webhooks.request_headers(payload, self.webhook_secret)

    def _event(self, event: StripeObject | str) -> StripeObject:
        found = self._state.peek(event) if isinstance(event, str) else event
        if found is None or found.get("object") != "event":
            raise LookupError(f"no such event: {event!r}")
        return found

    # state for tests -------------------------------------------------------------------------------
    @property
    def events(self) -> list[StripeObject]:
        """Every event generated so far, oldest first (copies)."""
        return self._state.events

    def events_of_type(self, event_type: str) -> list[StripeObject]:
        return [event for event in self.events if event["type"] == event_type]

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request received, oldest first."""
        with self._state.lock:
            return list(self._requests)

    def get(self, object_id: str) -> StripeObject | None:
        """Any stored object by id (customer, session, intent, method, charge, event), unexpanded."""
        return self._state.peek(object_id)

    def add_payment_method(self, customer_id: str, card: str = SUCCESS_VISA) -> StripeObject:
        """Save a test card on a customer (any test card, decline cards included) and return it.

        Raises ``fakestripe.errors.StripeError`` (400 resource_missing) for an unknown customer.
        """
        return self._state.add_payment_method(customer_id, card)

    def pay_checkout_session(self, session_id: str, card: str = SUCCESS_VISA) -> CheckoutResult:
        """Do what the hosted page's Pay button does, without HTTP (``LookupError`` for an unknown session)."""
        return self._state.pay_checkout_session(session_id, card)

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 500,
        message: str = "An unknown error occurred",
        type: str = "api_error",
        code: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests whose method and path (a regex, matched in full, e.g.
        ``/v1/checkout/sessions``) match with this Stripe error instead of handling them, as Stripe does
        when it is in trouble or refuses a request. Nothing changes in the fake's state for them."""
        with self._state.lock:
            self._failures.append(
                _Failure(method.upper(), re.compile(path), StripeError(status, message, type=type, code=code), times)
            )

    def reset(self) -> None:
        """Forget all objects, events, requests, idempotency keys, queued webhooks and injected failures."""
        with self._state.lock:
            self._state.reset()
            self._idempotency.clear()
            self._requests.clear()
            self._failures.clear()
        self._dispatcher.clear()

    # request handling (called from server threads) -------------------------------------------------
    def handle_api(
        self, method: str, path: str, params: Params, headers: dict[str, str]
    ) -> tuple[_Response, dict[str, str]]:
        """One ``/v1`` request: authentication, routing, idempotency, Stripe's error envelope."""
        request_id = new_id("req", 14)
        key = headers.get("idempotency-key") if method == "POST" else None
        version = headers.get("stripe-version")
        response = self._respond(method, path, params, headers, RequestInfo(request_id, key))
        out_headers = {"Request-Id": request_id, "Stripe-Version": version or self.api_version}
        if key:
            out_headers["Idempotency-Key"] = key
        if response.replayed:
            out_headers["Idempotent-Replayed"] = "true"
        if response.status >= 500:
            out_headers["Stripe-Should-Retry"] = "false"
        with self._state.lock:
            self._requests.append(
                RequestRecord(method, path, params, key, version, response.status, request_id)
            )
        return response, out_headers

    def _respond(
        self, method: str, path: str, params: Params, headers: dict[str, str], request: RequestInfo
    ) -> _Response:
        try:
            _authenticate(headers.get("authorization"))
            self._injected_failure(method, path)
            handler, path_params = _route(method, path)
            if request.idempotency_key is None:
                return _Response(200, handler(self._state, path_params, params, request))
            return self._idempotent(
                method, path, params, request, lambda: handler(self._state, path_params, params, request)
            )
        except StripeError as error:
            return _Response(error.status, error.body())
        except Exception:  # a bug in the fake: Stripe's 500 shape, logged with traceback
            logger.exception("fakestripe failed on %s %s", method, path)
            return _Response(500, {"error": {"type": "api_error", "message": "fakestripe internal error"}})

    def _injected_failure(self, method: str, path: str) -> None:
        with self._state.lock:
            for failure in self._failures:
                if failure.method == method and failure.path.fullmatch(path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    raise failure.error

    def _idempotent(
        self,
        method: str,
        path: str,
        params: Params,
        request: RequestInfo,
        execute: Callable[[], StripeObject],
    ) -> _Response:
        key = request.idempotency_key
        assert key is not None
        fingerprint = IdempotencyCache.fingerprint(method, path, params)
        with self._state.lock:  # one request per key at a time, as Stripe's 409 guard ensures
            replayed = self._idempotency.replay(key, fingerprint)
            if replayed is not None:
                return replayed
            try:
                response = _Response(200, execute())
            except StripeError as error:
                response = _Response(error.status, error.body())
            self._idempotency.save(key, fingerprint, response)
            return response

    def checkout_page(self, session_id: str) -> tuple[int, str]:
        """``GET /pay/{session}``: the payment form, or a message when the session is not payable."""
        try:
            session, items = self._state.checkout_view(session_id)
        except LookupError:
            return 404, checkout_page.message_page(
                "Not found", "Something went wrong: no such checkout page."
            )
        if session["status"] != "open":
            return 200, checkout_page.message_page(
                "Checkout finished", "This Checkout Session is no longer active.", session.get("success_url")
            )
        return 200, checkout_page.payment_page(session, items)

    def checkout_submit(self, session_id: str, card: str) -> tuple[int, str, str | None]:
        """``POST /pay/{session}``: charge the card; 303 to ``success_url`` or the form with the error."""
        try:
            result = self._state.pay_checkout_session(session_id, card)
            _, items = self._state.checkout_view(session_id)
        except LookupError:
            return (
                404,
                checkout_page.message_page("Not found", "Something went wrong: no such checkout page."),
                None,
            )
        if result.ok and result.redirect_url:
            return 303, "", result.redirect_url
        if result.ok:
            return (
                200,
                checkout_page.message_page("Payment successful", "Thank you, your payment is complete."),
                None,
            )
        if result.session["status"] != "open":
            return 200, checkout_page.message_page("Checkout finished", result.error or ""), None
        return 200, checkout_page.payment_page(result.session, items, error=result.error, card=card), None


def _authenticate(authorization: str | None) -> None:
    """Stripe's 401s: no key, or not a test-mode secret (``sk_test_``) or restricted (``rk_test_``) key."""
    key = _api_key(authorization)
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at "
            "https://support.stripe.com/.",
        )
    if not key.startswith(("sk_test_", "rk_test_")):
        raise StripeError(401, f"Invalid API Key provided: {key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}")


def _api_key(authorization: str | None) -> str | None:
    """The key from ``Bearer <key>`` or HTTP Basic with the key as user name (both accepted by Stripe)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode("utf-8").partition(":")[0] or None
        except ValueError:
            return None
    return None


def _route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler for a request; Stripe answers an unknown route or method with a 404."""
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return handler, {name: unquote(value) for name, value in match.groupdict().items()}
    raise unrecognized_url(method, path)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeStripe


class _RequestHandler(BaseHTTPRequestHandler):
    """Maps HTTP onto ``FakeStripe``: ``/v1/...`` JSON API, ``/pay/...`` HTML pages."""

    server: _HTTPServer
    server_version = "fakestripe"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.log_requests:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        try:
            self._handle(method)
        except Exception:  # never drop the connection without an answer
            logger.exception("fakestripe failed on %s %s", method, self.path)
            self._send_json(500, {"error": {"type": "api_error", "message": "fakestripe internal error"}}, {})

    def _handle(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        fake = self.server.fake
        if path.startswith("/pay/"):
            self._checkout(method, unquote(path.removeprefix("/pay/")), body)
            return
        try:
            params = parse_form(query)
            if method == "POST":
                params.update(parse_form(body))
        except StripeError as error:
            self._send_json(error.status, error.body(), {})
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        response, out_headers = fake.handle_api(method, path, params, headers)
        self._send_json(response.status, response.body, out_headers)

    def _checkout(self, method: str, session_id: str, body: str) -> None:
        fake = self.server.fake
        if method == "GET":
            status, html = fake.checkout_page(session_id)
            self._send(status, html.encode(), "text/html; charset=utf-8", {})
        elif method == "POST":
            try:
                card = parse_form(body).get("card", "")
            except StripeError:
                card = ""
            status, html, location = fake.checkout_submit(session_id, card if isinstance(card, str) else "")
            headers = {"Location": location} if location else {}
            self._send(status, html.encode(), "text/html; charset=utf-8", headers)
        else:
            self._send(405, b"", "text/plain", {"Allow": "GET, POST"})

    def _read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8") if length else ""

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        if status == 401:
            headers = {**headers, "WWW-Authenticate": 'Bearer realm="Stripe"'}
        self._send(status, json.dumps(body, indent=2).encode(), "application/json", headers)

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
