"""The database itself refuses to change or remove an event, raw SQL included, and refuses an insert that
does not extend the chain."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit.models import AuditChainHead, AuditEvent
from audit.services import GENESIS_HASH
from audit.verify import verify_chain
from tests.audit.helpers import execute, record

pytestmark = pytest.mark.django_db


def _refused(sql, params=None):
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        execute(sql, params)
    return str(caught.value)


class TestAppendOnly:
    def test_raw_update_is_refused(self):
        event = record()
        message = _refused("UPDATE audit_auditevent SET reason = 'tampered' WHERE id = %s", [event.pk])
        assert "append-only" in message and "UPDATE" in message
        assert AuditEvent.objects.get(pk=event.pk).reason == ""

    def test_raw_update_of_every_row_is_refused(self):
        record(), record()
        assert "append-only" in _refused("UPDATE audit_auditevent SET after = '{}'::jsonb")

    def test_raw_delete_is_refused(self):
        event = record()
        message = _refused("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
        assert "append-only" in message and "DELETE" in message
        assert AuditEvent.objects.filter(pk=event.pk).exists()

    def test_orm_update_and_delete_are_refused_too(self):
        event = record()
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(reason="x")
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
        with pytest.raises(DatabaseError), transaction.atomic():
            event.reason = "x"
            event.save()
        assert verify_chain().ok

    def test_the_chain_head_cannot_be_moved_or_removed_by_hand(self):
        record()
        assert "chain head" in _refused("UPDATE audit_auditchainhead SET last_id = last_id - 1")
        assert "chain head" in _refused("DELETE FROM audit_auditchainhead")

    def test_an_insert_that_does_not_extend_the_chain_is_refused(self):
        event = record()  # customer 42: chain 42
        columns = ("occurred_at, actor_kind, actor_label, app, action, object_type, object_id, object_repr, "
                   "before, after, reason, request_id, user_agent, customer_id")
        values = "now(), 'staff', 'x', 'finance', 'finance.x.y', '', '', '', '{}', '{}', '', '', '', 42"
        insert = f"INSERT INTO audit_auditevent ({columns}, chain, seq, prev_hash) VALUES ({values}, %s, %s, %s)"
        # a fork: a second event at the same position, after the same predecessor
        assert "does not extend chain 42" in _refused(insert, [event.chain, event.seq, event.prev_hash])
        # a gap in the chain
        assert "does not extend chain 42" in _refused(insert, [event.chain, event.seq + 2, event.hash])
        # a new genesis
        assert "does not extend chain 42" in _refused(insert, [event.chain, event.seq + 1, GENESIS_HASH])
        # another customer's chain
        assert "does not extend chain 42" in _refused(insert, [7, 1, GENESIS_HASH])
        # a forged hash
        assert "does not extend chain 42" in _refused(
            f"INSERT INTO audit_auditevent ({columns}, hash) VALUES ({values}, %s)", ["f" * 64])
        head = AuditChainHead.objects.get(id=event.chain)
        assert (head.last_seq, head.last_id, head.last_hash) == (event.seq, event.pk, event.hash)

    def test_the_right_values_given_by_hand_are_accepted(self):
        event = record()
        execute("INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_label, app, action, object_type, "
                "object_id, object_repr, before, after, reason, request_id, user_agent, customer_id, chain, seq, "
                "prev_hash) VALUES (now(), 'staff', 'x', 'finance', 'finance.x.y', '', '', '', '{}', '{}', '', '', "
                "'', 42, %s, %s, %s)", [event.chain, event.seq + 1, event.hash])
        assert AuditChainHead.objects.get(id=event.chain).last_seq == event.seq + 1
        assert verify_chain().ok

    def test_a_fork_is_refused_by_a_unique_constraint_even_without_the_trigger(self):
        event = record()
        with pytest.raises(IntegrityError, match="audit_chain_seq_unique"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_chain")
                cursor.execute(
                    "INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_label, app, action, "
                    "object_type, object_id, object_repr, before, after, reason, request_id, user_agent, "
                    "chain, seq, prev_hash, hash) VALUES (now(), 'staff', 'x', 'finance', 'finance.x.y', '', '', "
                    "'', '{}', '{}', '', '', '', %s, %s, %s, %s)", [event.chain, event.seq, event.prev_hash, "c" * 64])
