"""Helpers for the audit tests: record events, tamper with rows behind the trigger's back."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

from django.db import connection, transaction

from audit.actors import Actor
from audit.models import AuditEvent
from audit.sealing import seal_all
from audit.services import audit_record

TABLE = "audit_auditevent"
STAFF = Actor(kind="staff", label="finance", user_id=7, ip="10.0.0.7", user_agent="pytest", request_id="req-1")


def seal() -> int:
    """Seal the events visible to this connection, as the beat task does (inside a test's transaction, its own
    uncommitted events too); the count sealed."""
    return seal_all()


def record(*, sealed: bool = True, **overrides):
    """One event in its own (sub)transaction, with sensible defaults; sealed (and read back) unless told not."""
    values = {
        "actor": STAFF,
        "action": "finance.payment.record",
        "app": "finance",
        "object_type": "finance.payment",
        "object_id": 1,
        "customer_id": 42,
        "before": {},
        "after": {"amount": Decimal("10.500000")},
    }
    if "obj" in overrides:  # the object's own type and id
        values.pop("object_type"), values.pop("object_id")
    values.update(overrides)
    with transaction.atomic():
        event = audit_record(**values)
    if not sealed:
        return event
    seal()
    return AuditEvent.objects.get(pk=event.pk)


def varied_events(n: int, *, start: dt.datetime | None = None) -> None:
    """n events with every kind of content: apps, actors, customers, nested JSON, money, unicode; sealed."""
    start = start or dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    apps = ["customers", "invoices", "finance", "portal", "settings", "access"]
    actors = [
        STAFF,
        Actor(kind="customer", label="acme-portal", user_id=70, ip="2001:db8::1"),
        Actor.system("auto-top-up"),
        Actor.stripe("evt_123"),
        Actor(kind="api", label="telephony", user_id=3),
    ]
    for i in range(n):
        app = apps[i % len(apps)]
        record(
            actor=actors[i % len(actors)],
            app=app,
            action=f"{app}.thing.change{i % 7}",
            object_type=f"{app}.thing",
            object_id=i,
            customer_id=(i % 11) or None,
            before={"amount": Decimal(i) / 7, "status": "draft", "n": i},
            after={"amount": Decimal(i + 1) / 3, "status": "sent", "lines": [{"qty": i, "ok": True}],
                   "note": f"näïve 💶 {i}"},
            reason="" if i % 3 else f"remark {i}",
            at=start + dt.timedelta(minutes=i, microseconds=i),
            sealed=False,
        )
    seal()


@contextlib.contextmanager
def triggers_disabled():
    """Tamper as the table owner would: with every trigger of the table off. Only inside a transaction
    that the test rolls back (the ALTER TABLE is transactional)."""
    assert connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditchainhead DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_auditchainhead ENABLE TRIGGER USER")


def execute(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


class CustomerRecord:
    """Stands in for a saved customers.Customer in audit_record(obj=...): the audit app reads customer
    names from the events about customer records (object_repr), and must not import the customers app."""

    class _meta:  # noqa: N801 - shaped like a model's _meta
        label_lower = "customers.customer"

    def __init__(self, pk: int, text: str):
        self.pk, self._text = pk, text

    def __str__(self) -> str:
        return self._text
