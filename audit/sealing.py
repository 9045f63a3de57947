"""Sealing the audit trail, and anchoring its chain heads outside the database (issue 24; docs/audit.md).

A money transaction appends its audit event unsealed and takes no lock for it (audit.services.audit_record).
`seal_events` seals the committed unsealed events into their chains, in id order, in one short transaction:
the SQL function audit_seal (audit/sql/chain.sql) gives each its seq, prev_hash and hash and moves its chain's
head, under a transaction-level advisory lock so only one sealer runs at a time. The beat task
audit.tasks.seal_audit_trail calls it every 30 s until nothing is left.

The heads it moved are then appended, after the commit, to the anchor file (settings.AUDIT_ANCHOR_FILE), one
JSON line per seal; `email_anchor` mails every head (settings.AUDIT_ANCHOR_EMAILS, daily). Someone who can
rewrite the database can recompute every hash and head, but not the anchors kept elsewhere: verify_audit checks
that each anchored (chain, seq) still has the anchored hash."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.utils import timezone

from .models import AuditChainHead

log = logging.getLogger(__name__)

SEAL_BATCH = 5000  # events per sealing transaction: a short transaction, a few hundred ms


@dataclass(frozen=True)
class Anchor:
    chain: int
    seq: int
    event_id: int
    hash: str
    at: str  # when it was written (ISO, UTC)


@dataclass
class SealResult:
    sealed: int = 0
    heads: dict[int, Anchor] = field(default_factory=dict)  # the heads that moved


def _database() -> str:
    return str(connection.settings_dict["NAME"])


def seal_events(*, limit: int = SEAL_BATCH, write_anchor: bool = True) -> SealResult:
    """Seal up to `limit` committed events in one transaction; after it commits, append the heads that moved
    to the anchor file (when write_anchor and the file is configured)."""
    at = timezone.now().astimezone(dt.UTC).isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT chain, last_seq, last_id, last_hash, sealed FROM audit_seal(%s)", [limit])
        rows = cursor.fetchall()
        result = SealResult(
            sealed=sum(r[4] for r in rows), heads={r[0]: Anchor(r[0], r[1], r[2], r[3], at) for r in rows}
        )
        if write_anchor and result.heads and settings.AUDIT_ANCHOR_FILE:
            heads, database = list(result.heads.values()), _database()
            transaction.on_commit(lambda: append_anchor(heads, database=database))
    return result


def seal_all(*, batch: int = SEAL_BATCH, max_batches: int = 1000, write_anchor: bool = True) -> int:
    """Seal until no committed event is left unsealed (or max_batches transactions); the count sealed."""
    total = 0
    for _ in range(max_batches):
        sealed = seal_events(limit=batch, write_anchor=write_anchor).sealed
        total += sealed
        if sealed < batch:
            break
    return total


# --- The anchor file --------------------------------------------------------------------------------------
def anchor_line(heads: list[Anchor], *, database: str) -> str:
    at = heads[0].at if heads else timezone.now().astimezone(dt.UTC).isoformat()
    return json.dumps(
        {
            "at": at,
            "database": database,
            "heads": {
                str(h.chain): [h.seq, h.event_id, h.hash] for h in sorted(heads, key=lambda h: h.chain)
            },
        },
        separators=(",", ":"),
    )


def append_anchor(heads: list[Anchor], *, database: str, path: str | None = None) -> None:
    """Append one line to the anchor file and flush it to disk (the directory is made if missing)."""
    target = Path(path or settings.AUDIT_ANCHOR_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        handle.write(anchor_line(heads, database=database) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class AnchorFileError(ValueError):
    pass


def read_anchors(path: str | Path, *, database: str | None = None) -> dict[int, Anchor]:
    """The newest anchor of each chain in the file, for this database (lines of other databases are skipped).
    A line that is not an anchor raises AnchorFileError naming its line number."""
    database = database or _database()
    anchors: dict[int, Anchor] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if data.get("database") != database:
                    continue
                for chain, (seq, event_id, head_hash) in data["heads"].items():
                    anchors[int(chain)] = Anchor(
                        int(chain), int(seq), int(event_id), str(head_hash), str(data["at"])
                    )
            except (ValueError, KeyError, TypeError) as error:
                raise AnchorFileError(f"line {number} of {path} is not an audit anchor ({error})") from error
    return anchors


# --- The email digest ------------------------------------------------------------------------------------
def current_heads() -> list[Anchor]:
    at = timezone.now().astimezone(dt.UTC).isoformat()
    return [
        Anchor(h.id, h.last_seq, h.last_id, h.last_hash, at)
        for h in AuditChainHead.objects.filter(last_seq__gt=0).order_by("id")
    ]


def email_anchor(recipients: list[str] | None = None) -> int:
    """Mail every chain head to the auditors (settings.AUDIT_ANCHOR_EMAILS); the number of messages sent.
    The body ends with the anchor as one JSON line: saved to a file, `verify_audit --anchor-file` checks it."""
    recipients = recipients if recipients is not None else list(settings.AUDIT_ANCHOR_EMAILS)
    if not recipients:
        return 0
    heads, database = current_heads(), _database()
    total = sum(h.seq for h in heads)
    lines = [
        f"Audit trail of {database}: {total:,} sealed events in {len(heads)} chain(s).",
        "",
        *(f"chain {h.chain:>2}: #{h.seq} (event {h.event_id}) {h.hash}" for h in heads),
        "",
        "The same as an anchor line (save it to a file; `manage.py verify_audit --anchor-file FILE` checks "
        "the database against it):",
        anchor_line(heads, database=database),
    ]
    message = EmailMessage(
        subject=f"Audit chain heads: {total:,} sealed events", body="\n".join(lines) + "\n", to=recipients
    )
    return message.send()
