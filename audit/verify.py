"""Checks the whole audit chain and names the first broken event (used by `manage.py verify_audit`).

Set-based, in the database: each chunk of events (keyset pagination, `id > last seen`, in id order) is one
statement that recomputes every hash with audit_hash (the same SQL function the insert trigger uses), pairs
each row with the one before it (lag) and returns only the first broken row, or the chunk's last row. Python
sees one row per chunk."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from .models import AuditChainHead
from .services import GENESIS_HASH

_CHUNK_SQL = """
WITH chunk AS (
    SELECT e.id, e.prev_hash, e.hash, audit_hash(e.prev_hash, e) AS computed
    FROM audit_auditevent e WHERE e.id > %(after)s ORDER BY e.id LIMIT %(size)s
), linked AS (
    SELECT id, prev_hash, hash, computed,
           COALESCE(lag(id) OVER w, %(prev_id)s) AS prev_id,
           COALESCE(lag(hash) OVER w, %(prev_hash)s) AS expected_prev,
           row_number() OVER w AS n
    FROM chunk WINDOW w AS (ORDER BY id)
), judged AS (
    SELECT id, hash, prev_id, n,
           CASE WHEN prev_id IS NOT NULL AND id <> prev_id + 1 THEN 'gap'
                WHEN prev_hash <> expected_prev THEN 'link'
                WHEN computed IS DISTINCT FROM hash THEN 'content'
           END AS problem
    FROM linked
)
SELECT id, hash, prev_id, n, problem FROM judged
WHERE problem IS NOT NULL OR n = (SELECT count(*) FROM chunk)
ORDER BY id LIMIT 1
"""


@dataclass(frozen=True)
class ChainReport:
    count: int  # events walked (up to the break, when broken)
    last_id: int | None  # id of the last event walked
    broken_id: int | None = None  # the first broken event (None: intact)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.problem


def _problem(kind: str, event_id: int, prev_id: int | None) -> str:
    if kind == "gap":
        return f"event #{event_id} follows #{prev_id}: {event_id - prev_id - 1} event(s) missing (deleted?)"
    if kind == "link":
        where = f"#{prev_id}" if prev_id is not None else "the chain's start (genesis)"
        return f"event #{event_id} does not link to {where}: prev_hash differs (events deleted, moved or reordered?)"
    return f"event #{event_id}'s content does not match its hash (edited?)"


def verify_chain(*, chunk_size: int = 5000) -> ChainReport:
    """Check, in id order: ids follow one another with no gap, each prev_hash is the hash of the event
    before (the genesis hash for the first), each hash matches its event's content, and the chain ends at
    the chain head. Stop at the first broken event."""
    prev_id: int | None = None
    prev_hash = GENESIS_HASH
    count = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_CHUNK_SQL, {"after": prev_id or 0, "size": chunk_size, "prev_id": prev_id,
                                        "prev_hash": prev_hash})
            row = cursor.fetchone()
        if row is None:
            break
        event_id, event_hash, row_prev_id, n, kind = row
        if kind is not None:
            return ChainReport(count + n - 1, row_prev_id, event_id, _problem(kind, event_id, row_prev_id))
        prev_id, prev_hash = event_id, event_hash
        count += n
    head = AuditChainHead.objects.filter(id=1).values_list("last_id", "last_hash").first()
    if head is None:
        if count:
            return ChainReport(count, prev_id, None, "the chain head is missing")
        return ChainReport(0, None)
    head_id, head_hash = head
    last_id = prev_id or 0
    if head_id > last_id:
        return ChainReport(count, prev_id, head_id,
                           f"the chain ends at #{last_id} but its head is #{head_id}: the newest events "
                           "were deleted")
    if head_id < last_id:
        return ChainReport(count, prev_id, head_id + 1,
                           f"the chain head is #{head_id} but events go on to #{last_id}: events were "
                           "added around the chain")
    if head_hash != prev_hash:
        return ChainReport(count, prev_id, prev_id, f"the chain head's hash differs from event #{last_id}'s")
    return ChainReport(count, prev_id)
