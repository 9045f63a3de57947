"""Idempotency-Key on every POST, with Stripe's semantics.

- The key (1 to 255 printable ASCII characters) is required: without it, 400 `idempotency-key-missing`.
- Keys are per API client (ApiKey.name): two clients may use the same key; a client's rotated key keeps them.
- The first request with a key makes the one service call and stores its reply (common.models.
  IdempotencyRecord) as the last write of the same transaction (common/idempotency.py, record_first=False):
  the effect and the record commit together (a crash in between loses both: the retry posts once).
- A request whose key has a reply already (a retry, or a concurrent request that committed first: the insert
  waits for it on the unique index) rolls its own transaction back, its effect with it, and replays that reply.
  One effect per key.
- The same key again within 24 h with the same method, path and JSON body (compared as canonical JSON, so
  whitespace and key order do not matter) replays the stored reply: same status, same body, and the header
  `Idempotent-Replayed: true`. With another body or another endpoint: 422 `idempotency-key-reused`.
- What is stored: the reply of every request that got as far as the service call, success or domain refusal
  (insufficient credits, an already resolved or expired reservation, ...). A refusal rolls back the
  transaction of the call (nothing changed) and its reply is then stored in a transaction of its own;
  retrying the same request replays the refusal, as Stripe does (send a new key to try again after topping
  up). (Were the process to stop between the two, the refusal would not be stored: nothing was changed and
  no reply was sent, so the retry is simply evaluated again.)
- Per POST that succeeds: BEGIN, the call, the record's INSERT ... ON CONFLICT, COMMIT: no look-up before, no
  savepoint, no second write of the record (bench/api_posting.py: every statement is a round trip). A replay
  runs the call again and rolls it back before answering with the stored reply.
  Not stored, so the key stays free: authentication (401/403), rate limit (429), a missing key, a malformed or
  invalid body (400/413/422 from validation), an unknown customer or reservation (404, found before the call
  or by it).
- After 24 h a record is purged (api.tasks.purge_idempotency_records, hourly) and the key may be used again.

The records and the rule are common/idempotency.py's, shared with the pages' one-time form tokens
(common/form_tokens.py), whose effects may reach outside the database and so write the record first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.http import HttpResponse

from common.idempotency import MAX_KEY, KeyInUse, Outcome, once

from .problems import Problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def key_of(request) -> str:
    key = request.headers.get(HEADER, "")
    if not key.strip():
        raise Problem("idempotency-key-missing", "Every POST needs an Idempotency-Key header (a unique value per "
                                                 "operation, such as a UUID); a retry sends the same one.")
    if len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise Problem("validation-error", f"The Idempotency-Key is 1 to {MAX_KEY} printable ASCII characters.",
                      errors=[{"field": "Idempotency-Key", "message": "1 to 255 printable ASCII characters"}])
    return key


def request_hash(request, payload: object) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def run(request, payload: object, effect: Callable[[], tuple[int, dict]],
        refusal: Callable[[Exception], Problem | None]) -> HttpResponse:
    """Run `effect` (one service call returning (status, body)) once per (client, Idempotency-Key). `refusal`
    maps a domain error of the service to the Problem to store and answer (None: not a domain error, re-raise;
    a 404 is answered, not stored)."""
    key = key_of(request)
    client = request.auth.name
    fingerprint = request_hash(request, payload)

    def stored(status: int, body: dict) -> tuple[int, str]:
        return status, json.dumps(body)

    def once_(effect_) -> Outcome:
        try:
            return once(client=client, key=key, fingerprint=fingerprint, effect=effect_, record_first=False)
        except KeyInUse:
            raise Problem("idempotency-key-in-use", "Another request with this Idempotency-Key is still being "
                                                    "processed. Retry in a moment.") from None

    try:
        outcome = once_(lambda: stored(*effect()))
    except Exception as exc:
        problem = refusal(exc)
        if problem is None:
            raise  # a Problem already, or not the service's refusal
        if problem.status == 404:
            raise problem from None  # nothing was found to act on: the key stays free
        # The refusal changed nothing (its transaction is rolled back); its reply is stored on its own.
        outcome = once_(lambda: stored(problem.status, problem.body()))
    if not outcome.same_request:
        raise Problem("idempotency-key-reused", "This Idempotency-Key was already used for a different request "
                                                "(another body or endpoint). Use a new key for a new operation.")
    content_type = "application/problem+json" if outcome.status >= 400 else "application/json"
    response = HttpResponse(outcome.text, status=outcome.status, content_type=content_type)
    if outcome.replayed:
        response[REPLAYED] = "true"
    return response
