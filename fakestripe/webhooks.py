"""Webhook delivery as Stripe does it: a JSON POST signed with ``Stripe-Signature: t=<ts>,v1=<hmac>``.

The signature is the hex HMAC-SHA256, keyed with the endpoint secret, of ``f"{t}.{payload}"``: exactly
what ``stripe.Webhook.construct_event(payload, sig_header, secret)`` verifies. Like Stripe, delivery is
asynchronous (a background thread, after the API response), failed attempts are retried with backoff,
and ordering is not guaranteed across retries. Automatic delivery can be switched off so that a test
delivers events itself (``deliver_pending``) or posts them through its own client (``webhook_request``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Any

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

logger = logging.getLogger("fakestripe.webhooks")


def serialize_event(event: dict[str, Any]) -> str:
    """The body Stripe posts: the event, pretty-printed JSON."""
    return json.dumps(event, indent=2)


def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` (``t=<ts>,v1=<hex hmac sha256>``)."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode("utf-8"), f"{stamp}.{text}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def request_headers(payload: str, secret: str) -> dict[str, str]:
    """The headers Stripe sends with a webhook."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Cache-Control": "no-cache",
        "Accept": "*/*; q=0.5, application/xml",
        "Stripe-Signature": sign(payload, secret),
    }


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event; ``status`` is None when the endpoint could not be reached."""

    event_id: str
    event_type: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    response_body: str

    @property
    def ok(self) -> bool:
        """Stripe counts any 2xx as delivered."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Pending:
    event_id: str
    event_type: str
    payload: str
    attempt: int = 1
    due: float = 0.0


class WebhookDispatcher:
    """One webhook endpoint (url + secret) and the queue of events waiting to be delivered to it."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        *,
        auto_deliver: bool = True,
        retry_delays: tuple[float, ...] = (1.0, 5.0, 25.0),
        timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._secret = secret
        self._auto = auto_deliver
        self._retry_delays = retry_delays
        self._timeout = timeout
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._deliveries: list[Delivery] = []
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # configuration -------------------------------------------------------------------------------
    @property
    def url(self) -> str | None:
        return self._url

    @property
    def secret(self) -> str:
        return self._secret

    def configure(self, url: str | None, secret: str | None = None) -> None:
        """Point the endpoint elsewhere (None removes it); queued events go to the new url."""
        with self._cond:
            self._url = url
            if secret is not None:
                self._secret = secret
            self._cond.notify_all()

    @property
    def auto_deliver(self) -> bool:
        return self._auto

    @auto_deliver.setter
    def auto_deliver(self, value: bool) -> None:
        with self._cond:
            self._auto = value
            self._cond.notify_all()

    def has_endpoint(self) -> bool:
        """Stripe only sends an event to endpoints that exist when the event happens."""
        return self._url is not None

    # queue ---------------------------------------------------------------------------------------
    def enqueue(self, event: dict[str, Any]) -> None:
        """Queue an event for the endpoint (serialized now: the payload is the event as it happened)."""
        with self._cond:
            if self._url is None:
                return
            self._queue.append(_Pending(event["id"], event["type"], serialize_event(event)))
            self._cond.notify_all()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._deliveries.clear()
            self._cond.notify_all()

    def deliver_pending(self) -> list[Delivery]:
        """Deliver every queued event now, in order, in the calling thread, ignoring retry back-off.

        An attempt that fails is queued again (until the retry budget is spent), as Stripe would retry it.
        """
        if self._url is None:
            raise RuntimeError("no webhook url configured: call set_webhook(url, secret) first")
        with self._cond:
            batch = list(self._queue)
            self._queue.clear()
            self._in_flight += len(batch)
        return [self._attempt(item) for item in batch]

    def send_now(self, event: dict[str, Any]) -> Delivery:
        """Post one event again right now (the Dashboard's "Resend"), whether or not it was delivered."""
        if self._url is None:
            raise RuntimeError("no webhook url configured: call set_webhook(url, secret) first")
        with self._cond:
            self._in_flight += 1
        return self._attempt(_Pending(event["id"], event["type"], serialize_event(event)))

    def wait_idle(self, timeout: float) -> bool:
        """Block until the queue is empty and nothing is being posted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # background worker ---------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="fakestripe-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 1)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next_due()
                while item is None and not self._stopping:
                    self._cond.wait(self._wait_time())
                    item = self._next_due()
                if self._stopping:
                    return
                self._in_flight += 1
            self._attempt(item)

    def _next_due(self) -> _Pending | None:
        if not (self._auto and self._url):
            return None
        now = time.monotonic()
        for item in self._queue:
            if item.due <= now:
                self._queue.remove(item)
                return item
        return None

    def _wait_time(self) -> float | None:
        if not (self._auto and self._url) or not self._queue:
            return None
        return max(0.0, min(item.due for item in self._queue) - time.monotonic())

    def _attempt(self, item: _Pending) -> Delivery:
        """Post one event (the caller has counted it in flight); queue a retry if it failed."""
        url, secret = self._url, self._secret
        delivery = self._post(item, url, secret) if url else self._failed(item, "", "no webhook url")
        if delivery.ok:
            logger.info("delivered %s %s -> %s %s", item.event_type, item.event_id, url, delivery.status)
        else:
            logger.warning(
                "webhook %s %s -> %s failed (attempt %d): %s %s",
                item.event_type,
                item.event_id,
                url,
                item.attempt,
                delivery.status,
                delivery.error or delivery.response_body[:200],
            )
        with self._cond:
            self._in_flight -= 1
            self._deliveries.append(delivery)
            if not delivery.ok:
                self._schedule_retry(item)
            self._cond.notify_all()
        return delivery

    def _schedule_retry(self, item: _Pending) -> None:
        if item.attempt > len(self._retry_delays):
            return
        delay = self._retry_delays[item.attempt - 1]
        self._queue.append(
            _Pending(item.event_id, item.event_type, item.payload, item.attempt + 1, time.monotonic() + delay)
        )

    def _post(self, item: _Pending, url: str, secret: str) -> Delivery:
        request = urllib.request.Request(
            url,
            data=item.payload.encode("utf-8"),
            headers=request_headers(item.payload, secret),
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = response.read(2000).decode("utf-8", "replace")
                return Delivery(
                    item.event_id, item.event_type, url, item.attempt, response.status, None, body
                )
        except urllib.error.HTTPError as exc:
            body = exc.read(2000).decode("utf-8", "replace")
            return Delivery(item.event_id, item.event_type, url, item.attempt, exc.code, None, body)
        except Exception as exc:  # unreachable endpoint, bad url, broken response: a failed attempt
            return self._failed(item, url, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _failed(item: _Pending, url: str, error: str) -> Delivery:
        return Delivery(item.event_id, item.event_type, url, item.attempt, None, error, "")
