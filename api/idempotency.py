"""Idempotency-Key on every POST, with Stripe's semantics.

- The key (1 to 255 printable ASCII characters) is required: without it, 400 `idempotency-key-missing`.
- Keys are per API client (ApiKey.name): two clients may use the same key; a client's rotated key keeps them.
- The first request with a key makes the one service call and inserts its IdempotencyRecord (the reply) as
  the last write of the same transaction: the effect and the record commit together (a crash in between
  loses both: the retry posts once).
- A concurrent request with the same key, having made its own effect, blocks on the unique index
  (idempotency_client_key_unique) until the first commits, then rolls its whole transaction back (its effect
  with it) and replays the first's reply (or, if the first rolled back, commits its own). One effect per key.
- The same key again within 24 h with the same method, path and JSON body (compared as canonical JSON, so
  whitespace and key order do not matter) replays the stored reply: same status, same body, and the header
  `Idempotent-Replayed: true`. With another body or another endpoint: 422 `idempotency-key-reused`.
- What is stored: the reply of every request that got as far as the service call, success or domain refusal
  (insufficient credits, an already resolved or expired reservation, ...). A refusal rolls back the
  transaction of the call (nothing changed) and its reply is then stored in a transaction of its own;
  retrying the same request replays the refusal, as Stripe does (send a new key to try again after topping
  up). (Were the process to stop between the two, the refusal would not be stored: nothing was changed and
  no reply was sent, so the retry is simply evaluated again.)
- Per POST that succeeds: the record's look-up, then BEGIN, the call, the record, COMMIT: no savepoint and no
  second write of the record (the bench/api_posting.py figures: every statement is a round trip).
  Not stored, so the key stays free: authentication (401/403), rate limit (429), a missing key, a malformed or
  invalid body (400/413/422 from validation), an unknown customer or reservation found before the call (404).
- After 24 h a record is purged (api.tasks.purge_idempotency_records, hourly) and the key may be used again.

The record (common.models.IdempotencyRecord) is shared with the pages' one-time form tokens
(common/idempotency.py, common/form_tokens.py), which keep the older insert-first flow: the API's own flow
below stores the record last, for the statements it saves per request (bench/api_posting.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from common.idempotency import KEEP, MAX_KEY
from common.models import IdempotencyRecord

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


def _replay(record: IdempotencyRecord, fingerprint: str) -> HttpResponse:
    if record.request_hash != fingerprint:
        raise Problem("idempotency-key-reused", "This Idempotency-Key was already used for a different request "
                                                "(another body or endpoint). Use a new key for a new operation.")
    content_type = "application/problem+json" if record.status >= 400 else "application/json"
    response = HttpResponse(record.response, status=record.status, content_type=content_type)
    response[REPLAYED] = "true"
    return response


def run(request, payload: object, effect: Callable[[], tuple[int, dict]],
        refusal: Callable[[Exception], Problem | None]) -> HttpResponse:
    """Run `effect` (one service call returning (status, body)) once per (client, Idempotency-Key). `refusal`
    maps a domain error of the service to the Problem to store and answer (None: not a domain error, re-raise)."""
    key = key_of(request)
    client = request.auth.name
    fingerprint = request_hash(request, payload)
    now = timezone.now()
    for _ in range(2):
        old = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if old is not None and old.created_at > now - KEEP:
            return _replay(old, fingerprint)
        try:
            with transaction.atomic():
                if old is not None:  # older than KEEP, not purged yet: the key may be used again
                    IdempotencyRecord.objects.filter(pk=old.pk).delete()
                status, body = effect()
                text = _store(client, key, fingerprint, now, status, body)
        except _Taken:
            continue  # another request with this key committed first: this one's effect is rolled back
        except Exception as exc:
            problem = refusal(exc)
            if problem is None:
                raise
            # The refusal changed nothing (its transaction is rolled back); its reply is stored on its own.
            status = problem.status
            try:
                with transaction.atomic():
                    if old is not None:  # its deletion went with the rolled-back transaction
                        IdempotencyRecord.objects.filter(pk=old.pk).delete()
                    text = _store(client, key, fingerprint, now, status, problem.body())
            except _Taken:
                continue
        return HttpResponse(text, status=status,
                            content_type="application/problem+json" if status >= 400 else "application/json")
    raise Problem("idempotency-key-in-use", "Another request with this Idempotency-Key is still being processed. "
                                            "Retry in a moment.")


def _store(client: str, key: str, fingerprint: str, now: dt.datetime, status: int, body: dict) -> str:
    """The reply's record, the last write of the transaction; _Taken when another request holds the key (the
    insert waits on the unique index until that request ends, and fails if it committed)."""
    text = json.dumps(body)
    try:
        IdempotencyRecord.objects.create(client=client, key=key, request_hash=fingerprint, status=status,
                                         response=text, created_at=now)
    except IntegrityError:
        raise _Taken from None
    return text


class _Taken(Exception):
    """The key's record was inserted by a request that committed first."""
