"""The canonical content must hash the same when computed on the values written and on the row read back
from PostgreSQL (jsonb reorders keys and rewrites numbers; inet rewrites addresses; timestamps keep
microseconds)."""

import datetime as dt
import uuid
import zoneinfo
from decimal import Decimal

import pytest
from django.db import transaction

from audit.actors import Actor
from audit.models import AuditChainHead, AuditEvent
from audit.services import GENESIS_HASH, AuditError, audit_record, compute_hash
from audit.verify import verify_chain
from tests.audit.helpers import STAFF, record

pytestmark = pytest.mark.django_db

SGT = zoneinfo.ZoneInfo("Asia/Singapore")

NASTY = {
    "zeta": 1, "alpha": 2, "Beta": 3, "b": 4, "aa": 5, "10": 6, "9": 7,  # jsonb sorts keys its own way
    "money": Decimal("-0.000009"), "money_scaled": Decimal("65.979991000"), "money_exp": Decimal("1E+3"),
    "int": 12, "big_int": 10**30, "negative": -5, "bool": True, "none": None,
    "float": 0.1, "float_big": 1e20, "float_tiny": 1e-7, "float_negzero": -0.0,
    "float_inf": float("inf"), "float_nan": float("nan"),
    "when": dt.datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=SGT),
    "day": dt.date(2026, 2, 28), "time": dt.time(12, 30, 0, 1), "uuid": uuid.UUID(int=5),
    "unicode": "Zoë 💶 \u2028 line\nbreak \"quoted\" \\ back",
    "nul": "a\x00b", "surrogate": "x\ud800y",
    "nested": {"z": [3, 2, 1], "a": {"deep": Decimal("1.10")}, "set": {3, 1, 2}},
    "list": [Decimal("1.5"), (1, 2), {"k": "v"}],
    1: "int key",
}


def _reload(event):
    return AuditEvent.objects.get(pk=event.pk)


class TestCanonicalHashing:
    def test_nasty_values_hash_the_same_after_the_round_trip_through_postgresql(self):
        event = record(before=NASTY, after={**NASTY, "status": "paid"}, reason="why\x00 not",
                       at=dt.datetime(2026, 5, 5, 10, 0, 0, 1, tzinfo=SGT))
        stored = _reload(event)
        assert compute_hash(stored.prev_hash, stored) == stored.hash == event.hash
        assert stored.before["money"] == "-0.000009"
        assert stored.before["money_scaled"] == "65.979991000"
        assert stored.before["float_big"] == "1e+20"
        assert stored.before["nul"] == "ab" and stored.reason == "why not"
        assert stored.occurred_at == dt.datetime(2026, 5, 5, 2, 0, 0, 1, tzinfo=dt.UTC)
        assert verify_chain().ok

    def test_the_row_read_as_plain_values_hashes_the_same(self):
        event = record(before=NASTY)
        from audit.services import HASHED_FIELDS

        values = AuditEvent.objects.filter(pk=event.pk).values(*HASHED_FIELDS).get()
        assert compute_hash(event.prev_hash, values) == event.hash

    @pytest.mark.parametrize("ip", [
        "2001:0DB8:0000:0000:0000:0000:0000:0001", "::ffff:1.2.3.4", "::FFFF:102:304", "fe80::1%eth0",
        "127.0.0.1", "::1",
    ])
    def test_ip_addresses_are_stored_in_the_form_postgresql_prints(self, ip):
        event = record(actor=Actor(kind="staff", label="x", ip=ip))
        stored = _reload(event)
        assert stored.ip == event.ip
        assert compute_hash(stored.prev_hash, stored) == stored.hash

    @pytest.mark.parametrize("ip", ["not-an-ip", "unix:/tmp/sock", "999.1.1.1", ""])
    def test_a_bad_remote_address_is_dropped_rather_than_failing_the_change(self, ip):
        event = record(actor=Actor(kind="staff", label="x", ip=ip))
        assert _reload(event).ip is None

    def test_overlong_text_is_cut_to_the_column(self):
        actor = Actor(kind="staff", label="u" * 300, user_agent="a" * 1000, request_id="r" * 100)
        event = record(actor=actor, object_id="9" * 100, object_type="t" * 100)
        stored = _reload(event)
        assert len(stored.actor_label) == 150 and len(stored.user_agent) == 400
        assert len(stored.request_id) == 64 and len(stored.object_id) == 64
        assert compute_hash(stored.prev_hash, stored) == stored.hash

    def test_a_string_customer_id_is_stored_and_hashed_as_a_number(self):
        stored = _reload(record(customer_id="17"))
        assert stored.customer_id == 17
        assert compute_hash(stored.prev_hash, stored) == stored.hash

    def test_a_chain_is_gapless_and_each_event_links_to_the_one_before(self):
        first, second, third = record(), record(), record()
        assert {first.chain, second.chain, third.chain} == {42}  # customer 42's chain
        assert (first.seq, second.seq, third.seq) == (1, 2, 3)
        assert second.prev_hash == first.hash and third.prev_hash == second.hash
        head = AuditChainHead.objects.get(id=42)
        assert (head.last_seq, head.last_id, head.last_hash) == (3, third.pk, third.hash)

    def test_each_customer_has_its_chain_and_no_customer_is_chain_0(self):
        events = [record(customer_id=c) for c in (5, 69, None, 133, 5)]
        assert [(e.chain, e.seq) for e in events] == [(5, 1), (5, 2), (0, 1), (5, 3), (5, 4)]
        assert events[1].prev_hash == events[0].hash and events[2].prev_hash == GENESIS_HASH
        assert AuditChainHead.objects.get(id=5).last_id == events[-1].pk

    def test_the_first_event_links_to_the_genesis_hash(self):
        assert record().prev_hash == GENESIS_HASH


class TestRefusedInput:
    @pytest.mark.django_db(transaction=True)
    def test_outside_a_transaction_is_refused(self):
        with pytest.raises(RuntimeError, match="inside the transaction"):
            audit_record(actor=STAFF, action="finance.payment.record", app="finance")
        assert not AuditEvent.objects.exists()

    @pytest.mark.parametrize("kwargs, message", [
        ({"app": "backoffice"}, "unknown audit app"),
        ({"action": "nodots"}, "must be dotted"),
        ({"actor": "finance"}, "must be an audit.actors.Actor"),
        ({"actor": Actor(kind="robot", label="r")}, "unknown actor kind"),
        ({"at": dt.datetime(2026, 1, 1, 12, 0)}, "timezone-aware"),
        ({"customer_id": "ACME"}, "customer_id must be an integer"),
    ])
    def test_a_programming_error_is_refused_with_a_clear_message(self, kwargs, message):
        before = AuditEvent.objects.count()
        with pytest.raises(AuditError, match=message), transaction.atomic():
            audit_record(**{"actor": STAFF, "action": "finance.payment.record", "app": "finance", **kwargs})
        assert AuditEvent.objects.count() == before
