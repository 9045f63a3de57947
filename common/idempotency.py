"""One effect per (client, key), recorded in the same transaction as the effect: the mechanism behind the API's
Idempotency-Key (api/idempotency.py) and the pages' one-time form tokens (common/form_tokens.py). One rule:

- The effect and its IdempotencyRecord (the outcome: status and text) commit together, in one transaction: a
  crash in between loses both, and the retry runs once.
- A key whose record has committed is never run again within KEEP: its outcome is replayed (Outcome.replayed;
  `same_request` says whether the fingerprint matched).
- Two requests with one key meet at the record's unique index (idempotency_client_key_unique): the second
  waits there until the first ends, then replays the first's outcome (or, if the first rolled back, runs).
- What the effect raises rolls everything back, the record included: the key stays free. (The API turns its
  domain refusals into a stored outcome of their own, api/idempotency.py.)
- After KEEP a record is purged (`purge_expired`, hourly: api.tasks.purge_idempotency_records) and the key
  may be used again (a record past KEEP that is not purged yet is replaced).

Where the record's write goes in the transaction is the caller's choice, by what its effect reaches:

- `record_first=True` (the pages' forms): the record is inserted FIRST, then the effect runs, then its outcome
  is stored on the record. A second request waits on the index before its effect runs, so an effect that
  reaches outside the database before it commits (an invoice's email, the message the next page shows) is
  made once. Costs a look-up and a second write of the record per request.
- `record_first=False` (the API, whose effects are database writes only: reserve, commit, release, charges):
  the effect runs first and the record is the transaction's last write, `INSERT ... ON CONFLICT`. When the key
  has a record already (a retry, a replay, a concurrent request that committed first), the insert writes
  nothing, the transaction (the effect with it) is rolled back and the stored outcome replayed. Per request:
  BEGIN, the effect, the insert, COMMIT - no look-up before and no second write (every statement is a round
  trip: bench/api_posting.py). A replay costs the effect's work, rolled back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import IdempotencyRecord

KEEP = dt.timedelta(hours=24)
MAX_KEY = 255

_TABLE = IdempotencyRecord._meta.db_table
# Inserted, or replacing a record past KEEP (not purged yet); nothing when the key has a record within KEEP (a
# record another transaction holds uncommitted is waited for on the unique index first).
_STORE_LAST_SQL = (
    f"INSERT INTO {_TABLE} (client, key, request_hash, status, response, created_at) "  # noqa: S608 - constant
    "VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (client, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, "
    f"response = EXCLUDED.response, created_at = EXCLUDED.created_at WHERE {_TABLE}.created_at <= %s "
    "RETURNING id"
)


@dataclass(frozen=True)
class Outcome:
    status: int
    text: str
    replayed: bool = False  # an earlier request's outcome, the effect not run again
    same_request: bool = True  # (replays) the earlier request had the same fingerprint


class KeyInUse(Exception):
    """Another request with the key is still in flight after two tries (rare: the caller asks to retry)."""


class _Taken(Exception):
    """The key's record was committed by another request."""


def once(*, client: str, key: str, fingerprint: str, effect: Callable[[], tuple[int, str]], record_first: bool,
         now: dt.datetime | None = None) -> Outcome:
    """Run `effect` (returning the (status, text) to store) at most once per (client, key) within KEEP.
    `record_first`: where the record's write goes (the module's docstring)."""
    now = now or timezone.now()
    run = _record_first if record_first else _record_last
    for _ in range(2):
        try:
            return run(client, key, fingerprint, effect, now)
        except _Taken:
            # Committed by another request (waited for on the index), this one's writes rolled back.
            if record_first:
                continue  # the next try looks the record up first
            old = _fresh(client, key, now)
            if old is not None:
                return _replay(old, fingerprint)
    raise KeyInUse


def _fresh(client: str, key: str, now: dt.datetime) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(client=client, key=key, created_at__gt=now - KEEP).first()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Outcome:
    return Outcome(record.status, record.response, replayed=True, same_request=record.request_hash == fingerprint)


def _record_first(client: str, key: str, fingerprint: str, effect, now: dt.datetime) -> Outcome:
    old = _fresh(client, key, now)
    if old is not None:
        return _replay(old, fingerprint)
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
    return Outcome(status, text)


def _record_last(client: str, key: str, fingerprint: str, effect, now: dt.datetime) -> Outcome:
    with transaction.atomic():
        status, text = effect()
        with connection.cursor() as cursor:
            # Waits here, on the unique index, while another request with this key is in flight.
            cursor.execute(_STORE_LAST_SQL, [client, key, fingerprint, status, text, now, now - KEEP])
            stored = cursor.fetchone() is not None
        if not stored:
            raise _Taken  # leaving the block rolls the effect back
    return Outcome(status, text)


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete the outcomes older than KEEP (their keys may be used again). Housekeeping of a cache of replies,
    not a change anyone decided: no audit event. Returns how many it deleted."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    return deleted
