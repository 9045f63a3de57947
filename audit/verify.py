"""Checks every audit chain and names the first broken event (used by `manage.py verify_audit`).

Chain by chain (0 to AUDIT_CHAINS - 1), set-based, in the database: each chunk of a chain's events (keyset
pagination on the unique (chain, seq), `seq > last seen`) is one statement that recomputes every hash with
audit_hash (the same SQL function the insert trigger uses), pairs each row with the one before it (lag) and
returns only the first broken row, or the chunk's last row. Python sees one row per chunk. Each chain must
then end at its head, and each chain head anchored outside the database (audit.sealing: the anchor file) must
still be in its chain with the same hash. Events not sealed yet are counted, with the age of the oldest.

The walk reads one snapshot (REPEATABLE READ) when it runs in its own transaction, so a seal committing meanwhile
is not mistaken for events added around a chain; the anchor file is read before that snapshot is taken."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db import connection, transaction
from django.utils import timezone

from .models import AUDIT_CHAINS, AuditChainHead
from .sealing import Anchor, AnchorFileError, read_anchors
from .services import GENESIS_HASH

_CHUNK_SQL = """
WITH chunk AS (
    SELECT e.id, e.seq, e.prev_hash, e.hash, audit_hash(e.prev_hash, e) AS computed
    FROM audit_auditevent e WHERE e.chain = %(chain)s AND e.seq > %(after)s ORDER BY e.seq LIMIT %(size)s
), linked AS (
    SELECT id, seq, prev_hash, hash, computed,
           COALESCE(lag(id) OVER w, %(prev_id)s) AS prev_id,
           COALESCE(lag(seq) OVER w, %(after)s) AS prev_seq,
           COALESCE(lag(hash) OVER w, %(prev_hash)s) AS expected_prev,
           row_number() OVER w AS n
    FROM chunk WINDOW w AS (ORDER BY seq)
), judged AS (
    SELECT id, seq, hash, prev_id, prev_seq, n,
           CASE WHEN seq <> prev_seq + 1 THEN 'gap'
                WHEN prev_hash <> expected_prev THEN 'link'
                WHEN computed IS DISTINCT FROM hash THEN 'content'
           END AS problem
    FROM linked
)
SELECT id, seq, hash, prev_id, prev_seq, n, problem FROM judged
WHERE problem IS NOT NULL OR n = (SELECT count(*) FROM chunk)
ORDER BY seq LIMIT 1
"""


@dataclass(frozen=True)
class ChainReport:
    count: int  # events walked (up to the break, when broken)
    last_id: int | None  # id of the newest event walked
    broken_id: int | None = None  # the first broken event (None: intact)
    problem: str = ""
    chains: int = 0  # chains holding at least one event
    anchored: int = 0  # chains whose anchor was checked
    anchor_note: str = ""  # why no anchor was checked, when none was
    unsealed: int = 0  # events not sealed yet
    oldest_unsealed_id: int | None = None
    oldest_unsealed_age: float | None = None  # seconds since the oldest unsealed event was written

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.problem


def _problem(kind: str, chain: int, event_id: int, seq: int, prev_id: int | None, prev_seq: int) -> str:
    if kind == "gap":
        return (f"event #{event_id} is #{seq} of chain {chain} but follows #{prev_seq}: {seq - prev_seq - 1} "
                "event(s) missing (deleted?)")
    if kind == "link":
        where = f"event #{prev_id}" if prev_id is not None else "the chain's start (genesis)"
        return (f"event #{event_id} (chain {chain}) does not link to {where}: prev_hash differs (events deleted, "
                "moved or reordered?)")
    return f"event #{event_id}'s content does not match its hash (edited?)"


def _verify_one(chain: int, head: tuple | None, chunk_size: int) -> tuple[int, int | None, int | None, str]:
    """Walk one chain: (events walked, newest id walked, broken event id or None, problem or '')."""
    prev_id: int | None = None
    prev_seq, prev_hash, count, newest = 0, GENESIS_HASH, 0, None
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_CHUNK_SQL, {"chain": chain, "after": prev_seq, "size": chunk_size, "prev_id": prev_id,
                                        "prev_hash": prev_hash})
            row = cursor.fetchone()
        if row is None:
            break
        event_id, seq, event_hash, row_prev_id, row_prev_seq, n, kind = row
        if kind is not None:
            return count + n - 1, newest, event_id, _problem(kind, chain, event_id, seq, row_prev_id, row_prev_seq)
        prev_id, prev_seq, prev_hash = event_id, seq, event_hash
        newest = max(newest or 0, event_id)
        count += n
    if head is None:
        return count, newest, None, f"chain {chain}'s head is missing" if count else ""
    head_seq, head_id, head_hash = head
    if head_seq > prev_seq:
        return (count, newest, head_id, f"chain {chain} ends at #{prev_seq} but its head is #{head_seq} "
                f"(event #{head_id}): the newest events were deleted")
    if head_seq < prev_seq:
        return (count, newest, prev_id, f"chain {chain}'s head is #{head_seq} but its events go on to "
                f"#{prev_seq}: events were added around the chain")
    if head_hash != prev_hash:
        return count, newest, prev_id, f"chain {chain}'s head hash differs from event #{prev_id}'s"
    return count, newest, None, ""


def _check_anchors(anchors: dict[int, Anchor]) -> tuple[int | None, str]:
    """Each anchored (chain, seq) must still hold the anchored event and hash: (broken event id, problem)."""
    if not anchors:
        return None, ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.chain, a.seq, e.id, e.hash FROM unnest(%s::int[], %s::bigint[]) AS a(chain, seq) "
            "LEFT JOIN audit_auditevent e ON e.chain = a.chain AND e.seq = a.seq ORDER BY a.chain",
            [[a.chain for a in anchors.values()], [a.seq for a in anchors.values()]])
        rows = cursor.fetchall()
    for chain, seq, event_id, event_hash in rows:
        anchor = anchors[chain]
        if event_id is None:
            return anchor.event_id, (f"chain {chain} has no event #{seq}, anchored at {anchor.at} as event "
                                     f"#{anchor.event_id}: the chain was cut or rewritten")
        if event_id != anchor.event_id or event_hash != anchor.hash:
            return event_id, (f"chain {chain}'s event #{seq} (event #{event_id}) has hash {event_hash}, but the anchor "
                              f"written at {anchor.at} says event #{anchor.event_id} with {anchor.hash}: the chain "
                              "was rewritten")
    return None, ""


def _unsealed() -> tuple[int, int | None, float | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) OVER (), id, recorded_at FROM audit_auditevent WHERE seq IS NULL "
                       "ORDER BY recorded_at, id LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return 0, None, None
    return row[0], row[1], max(0.0, (timezone.now() - row[2]).total_seconds())


def verify_chain(*, chunk_size: int = 5000, anchor_file: str | None = None) -> ChainReport:
    """Check each chain in seq order: seqs follow one another from 1 with no gap, each prev_hash is the hash
    of the event before in the chain (the genesis hash for the first), each hash matches its event's
    content, the chain ends at its head, and each anchored head (anchor_file, if given and present) is still
    in its chain. Stop at the first broken event (lowest chain first). Count the unsealed events."""
    anchors: dict[int, Anchor] = {}
    anchor_note = "no anchor file configured (AUDIT_ANCHOR_FILE)"
    if anchor_file:
        try:
            anchors = read_anchors(anchor_file)
            anchor_note = "" if anchors else f"no anchor for this database in {anchor_file} yet"
        except FileNotFoundError:
            anchor_note = f"no anchor file at {anchor_file} yet"
        except AnchorFileError as error:
            return ChainReport(0, None, None, str(error))
    if connection.in_atomic_block:
        report = _verify(chunk_size, anchors)
    else:
        with transaction.atomic():
            with connection.cursor() as cursor:  # one snapshot for the whole walk
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            report = _verify(chunk_size, anchors)
    if not anchors:
        report = replace(report, anchor_note=anchor_note)
    return report


def _verify(chunk_size: int, anchors: dict[int, Anchor]) -> ChainReport:
    unsealed, oldest_id, oldest_age = _unsealed()
    extra = {"unsealed": unsealed, "oldest_unsealed_id": oldest_id, "oldest_unsealed_age": oldest_age}
    heads = {chain: (seq, last_id, last_hash) for chain, seq, last_id, last_hash
             in AuditChainHead.objects.values_list("id", "last_seq", "last_id", "last_hash")}
    total, newest, chains = 0, None, 0
    with connection.cursor() as cursor:  # the walk covers chains 0 to AUDIT_CHAINS - 1: nothing may hide elsewhere
        cursor.execute("SELECT id, chain FROM audit_auditevent WHERE chain < 0 OR chain >= %s ORDER BY id LIMIT 1",
                       [AUDIT_CHAINS])
        outside = cursor.fetchone()
    if outside is not None:
        return ChainReport(0, None, outside[0], f"event #{outside[0]} is in chain {outside[1]}, outside the "
                           f"{AUDIT_CHAINS} chains (added around them?)", **extra)
    for chain in range(AUDIT_CHAINS):
        count, chain_newest, broken_id, problem = _verify_one(chain, heads.get(chain), chunk_size)
        total += count
        chains += 1 if count else 0
        if chain_newest is not None:
            newest = max(newest or 0, chain_newest)
        if problem:
            return ChainReport(total, newest, broken_id, problem, chains, **extra)
    broken_id, problem = _check_anchors(anchors)
    return ChainReport(total, newest, broken_id, problem, chains, anchored=len(anchors) if not problem else 0,
                       **extra)
