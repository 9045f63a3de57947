"""The Stripe webhook endpoint: verify the signature on the raw body, then one service call.

Stripe counts any 2xx as delivered and retries anything else, so: a bad, missing or stale signature (or
a body that is not an event) is a 400 and a body over MAX_PAYLOAD_BYTES a 413, and either changes nothing; an event type we do not handle is a 200
(acknowledged, stored as ignored); a temporary failure (Stripe's API unreachable while reading the
payment) is a 500, so Stripe delivers the event again later."""

from __future__ import annotations

import logging

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.actors import Actor, ActorKind

from ..services.cards import stripe_event_process
from . import gateway

logger = logging.getLogger(__name__)


# Stripe's events are a few kilobytes; anything past this is refused before it is read, stored or parsed.
MAX_PAYLOAD_BYTES = 256 * 1024


@csrf_exempt
@require_POST
def stripe_webhook(request):
    if _declared_length(request) > MAX_PAYLOAD_BYTES or len(request.body) > MAX_PAYLOAD_BYTES:
        logger.warning("Stripe webhook refused: a body over %s bytes", MAX_PAYLOAD_BYTES)
        return HttpResponse(f"Stripe webhook bodies are limited to {MAX_PAYLOAD_BYTES} bytes.", status=413,
                            content_type="text/plain")
    try:
        event = gateway.webhook_event(request.body, request.META.get("HTTP_STRIPE_SIGNATURE"))
    except gateway.SignatureError as error:
        logger.warning("Stripe webhook refused: %s", error)
        return HttpResponseBadRequest(f"Invalid Stripe webhook: {error}", content_type="text/plain")
    base = Actor.from_request(request)
    actor = Actor(kind=ActorKind.STRIPE, label="stripe", ip=base.ip, user_agent=base.user_agent,
                  request_id=str(event["id"])[:64])
    result = stripe_event_process(event=event, actor=actor)
    return JsonResponse({"received": True, "result": result})


def _declared_length(request) -> int:
    length = request.META.get("CONTENT_LENGTH") or ""
    return int(length) if length.isascii() and length.isdigit() else 0
