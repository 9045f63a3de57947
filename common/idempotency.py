"""One effect per (client, key), recorded in the same transaction as the effect: the mechanism behind the API's
Idempotency-Key (api/idempotency.py) and the pages' one-time form tokens (common/form_tokens.py).

- The first request with a key inserts its IdempotencyRecord FIRST, in the same transaction as the effect, then
  runs the effect, then stores its outcome (status, text) on the record; the transaction commits the three
  together (a crash in between loses all of them: the retry runs once).
- A concurrent request with the same key blocks on the unique index (idempotency_client_key_unique) until the
  first commits, then finds the record and replays its outcome; if the first rolled back (the effect raised),
  it takes the key itself.
- What the effect raises rolls everything back, the record included: the key stays free. (The API turns its
  domain refusals into a stored outcome itself, inside its effect.)
- After KEEP a record is purged (`purge_expired`, hourly) and the key may be used again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import IdempotencyRecord

KEEP = dt.timedelta(hours=24)
MAX_KEY = 255


@dataclass(frozen=True)
class Outcome:
    status: int
    text: str
    replayed: bool = False  # an earlier request's outcome, the effect not run again
    same_request: bool = True  # (replays) the earlier request had the same fingerprint


class KeyInUse(Exception):
    """Another request with the key is still in flight after two tries (rare: the caller asks to retry)."""


class _Taken(Exception):
    """The key's record was inserted by a request that committed first."""


def once(*, client: str, key: str, fingerprint: str, effect: Callable[[], tuple[int, str]],
         now: dt.datetime | None = None) -> Outcome:
    """Run `effect` (returning the (status, text) to store) at most once per (client, key) within KEEP."""
    now = now or timezone.now()
    for _ in range(2):
        old = IdempotencyRecord.objects.filter(client=client, key=key, created_at__gt=now - KEEP).first()
        if old is not None:
            return Outcome(old.status, old.response, replayed=True, same_request=old.request_hash == fingerprint)
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.filter(client=client, key=key, created_at__lte=now - KEEP).delete()
                try:
                    with transaction.atomic():
                        # Waits here, on the unique index, while another request with this key is in flight.
                        record = IdempotencyRecord.objects.create(client=client, key=key, request_hash=fingerprint,
                                                                  created_at=now)
                except IntegrityError:
                    raise _Taken from None
                status, text = effect()
                record.status, record.response = status, text
                record.save(update_fields=["status", "response"])
        except _Taken:
            continue  # the other request committed first: replay its outcome
        return Outcome(status, text)
    raise KeyInUse


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete the outcomes older than KEEP (their keys may be used again). Housekeeping of a cache of replies,
    not a change anyone decided: no audit event. Returns how many it deleted."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    return deleted
