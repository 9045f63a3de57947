"""Walks the whole audit chain and names the first broken event (used by `manage.py verify_audit`).

Constant memory and one indexed query per chunk: rows are read in id order by keyset pagination
(`id > last seen`) with a plain cursor (no model instances), and each hash is recomputed with
audit.services.compute_hash."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection

from .models import AuditChainHead
from .services import GENESIS_HASH, HASHED_FIELDS, compute_hash

_COLUMNS = ("id", "prev_hash", "hash", *HASHED_FIELDS)
_JSON_COLUMNS = ("before", "after")
_CHUNK_SQL = (
    f"SELECT {', '.join(_COLUMNS)} FROM audit_auditevent WHERE id > %s ORDER BY id LIMIT %s"  # noqa: S608
)


def _chunks(chunk_size: int):
    """Rows as {column: value}, in id order, chunk by chunk. jsonb arrives as text (Django's loader for
    psycopg) and is parsed here, exactly as JSONField would."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_CHUNK_SQL, [last, chunk_size])
            rows = cursor.fetchall()
        if not rows:
            return
        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            for name in _JSON_COLUMNS:
                if isinstance(values[name], str):
                    values[name] = json.loads(values[name])
            yield values
        last = rows[-1][0]


@dataclass(frozen=True)
class ChainReport:
    count: int  # events walked (up to the break, when broken)
    last_id: int | None  # id of the last event walked
    broken_id: int | None = None  # the first broken event (None: intact)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.problem


def verify_chain(*, chunk_size: int = 5000) -> ChainReport:
    """Check, in id order: ids follow one another with no gap, each prev_hash is the hash of the event
    before (the genesis hash for the first), each hash matches its event's content, and the chain ends at
    the chain head. Stop at the first broken event."""
    prev_id: int | None = None
    prev_hash = GENESIS_HASH
    count = 0
    for values in _chunks(chunk_size):
        event_id = values["id"]
        if prev_id is not None and event_id != prev_id + 1:
            missing = event_id - prev_id - 1
            return ChainReport(count, prev_id, event_id,
                               f"event #{event_id} follows #{prev_id}: {missing} event(s) missing (deleted?)")
        if values["prev_hash"] != prev_hash:
            where = f"#{prev_id}" if prev_id is not None else "the chain's start (genesis)"
            return ChainReport(count, prev_id, event_id,
                               f"event #{event_id} does not link to {where}: prev_hash differs "
                               "(events deleted, moved or reordered?)")
        if compute_hash(prev_hash, values) != values["hash"]:
            return ChainReport(count, prev_id, event_id,
                               f"event #{event_id}'s content does not match its hash (edited?)")
        prev_id, prev_hash = event_id, values["hash"]
        count += 1
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
