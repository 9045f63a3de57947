"""The one way to record an audit event. Every write service in every app calls `audit_record` inside
its own transaction, so there is no change without its event and no event without its change."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .actors import Actor
from .models import AuditEvent

GENESIS_HASH = "0" * 64
# One chain for the whole trail: appends are serialised by this transaction-scoped advisory lock, held
# until the change commits, so every row's prev_hash is the hash of the row committed before it.
CHAIN_LOCK_KEY = 0x4C444155  # "LDAU"

HASHED_FIELDS = (
    "occurred_at", "actor_kind", "actor_label", "actor_user_id", "app", "action", "object_type",
    "object_id", "object_repr", "customer_id", "before", "after", "reason", "request_id", "ip",
    "user_agent",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if hasattr(value, "pk"):
        return value.pk
    return value


def canonical_content(event: AuditEvent) -> str:
    data = {name: _jsonable(getattr(event, name)) for name in HASHED_FIELDS}
    data["occurred_at"] = event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(f"{prev_hash}|{canonical_content(event)}".encode()).hexdigest()


def audit_record(
    *,
    actor: Actor,
    action: str,
    app: str,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    customer_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the caller's transaction (it refuses to run outside one)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records.")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    event = AuditEvent(
        occurred_at=(at or timezone.now()).astimezone(dt.UTC),
        actor_kind=actor.kind,
        actor_label=actor.label[:150],
        actor_user_id=actor.user_id,
        app=app,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        object_repr=str(obj)[:200] if obj is not None else "",
        customer_id=customer_id,
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
        reason=reason or "",
        request_id=actor.request_id or "",
        ip=actor.ip,
        user_agent=actor.user_agent or "",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        cursor.execute("SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    event.prev_hash = row[0] if row else GENESIS_HASH
    event.hash = compute_hash(event.prev_hash, event)
    event.save(force_insert=True)
    return event


def audit_record_access(*, actor: Actor, action: str, reason: str = "") -> AuditEvent:
    """Sign-in, failed sign-in and sign-out: events of their own, each in its own transaction."""
    with transaction.atomic():
        return audit_record(actor=actor, action=action, app="access", object_type="auth.user",
                            object_id=actor.user_id or "", reason=reason)
