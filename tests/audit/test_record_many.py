"""audit_record_many: a batch job's events in one INSERT (the daily auto top-up's chunk), checked as audit_record
checks one, in the order given, stored exactly as audit_record stores the same event (the same hash once sealed)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import AuditError, audit_record, audit_record_many
from audit.verify import verify_chain
from tests.audit.helpers import STAFF, seal

pytestmark = pytest.mark.django_db

HASHED = ("occurred_at", "actor_kind", "actor_label", "actor_user_id", "app", "action", "object_type", "object_id",
          "object_repr", "customer_id", "before", "after", "reason", "request_id", "ip", "user_agent")


def spec(n: int, **overrides) -> dict:
    return {"actor": STAFF, "action": "finance.payment.record", "app": "finance", "object_type": "finance.payment",
            "object_id": n, "customer_id": 40 + n % 3, "before": {"n": n}, "after": {"amount": Decimal("10.500000")},
            **overrides}


def test_the_events_are_written_in_the_order_given_and_chain_like_any_other():
    with transaction.atomic():
        assert audit_record_many([spec(n) for n in range(7)]) == 7
        one = audit_record(**spec(99))
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.object_id for e in events] == [str(n) for n in range(7)] + ["99"]
    many = events[0]
    assert ({f: getattr(many, f) for f in HASHED if f not in ("object_id", "before", "occurred_at", "customer_id")}
            == {f: getattr(one, f) for f in HASHED if f not in ("object_id", "before", "occurred_at", "customer_id")})
    assert many.after == {"amount": "10.500000"} and str(many.ip) == "10.0.0.7"
    assert seal() == 8
    assert verify_chain().ok


def test_one_bad_event_writes_none_of_them():
    with pytest.raises(AuditError), transaction.atomic():
        audit_record_many([spec(1), spec(2, app="nowhere")])
    assert not AuditEvent.objects.exists()
