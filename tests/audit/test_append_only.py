"""The database itself refuses to change or remove an event, raw SQL included: an event is appended unsealed,
and changes once, when it is sealed as the next of its chain (audit_seal, the beat task, does it)."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit.models import AuditChainHead, AuditEvent
from audit.services import GENESIS_HASH, compute_hash
from audit.verify import verify_chain
from tests.audit.helpers import execute, record

pytestmark = pytest.mark.django_db

COLUMNS = ("occurred_at, actor_kind, actor_label, app, action, object_type, object_id, object_repr, before, after, "
           "reason, request_id, user_agent, customer_id")
VALUES = "now(), 'staff', 'x', 'finance', 'finance.x.y', '', '', '', '{}', '{}', '', '', '', 42"


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

    def test_an_insert_is_appended_unsealed_and_given_seal_values_are_refused(self):
        event = record()  # customer 42: chain 42, sealed
        insert = f"INSERT INTO audit_auditevent ({COLUMNS}, chain, seq, prev_hash, hash) VALUES ({VALUES}, %s, %s, %s, %s)"
        # the right next place, a fork, a new genesis, another customer's chain, a forged hash: all refused
        for given in ([42, event.seq + 1, event.hash, None], [42, event.seq, event.prev_hash, None],
                      [42, 1, GENESIS_HASH, None], [7, None, None, None], [None, None, None, "f" * 64]):
            assert "appended unsealed to chain 42" in _refused(insert, given), given
        execute(insert, [None, None, None, None])
        appended = AuditEvent.objects.latest("id")
        assert (appended.chain, appended.seq, appended.prev_hash, appended.hash) == (42, None, None, None)
        assert appended.recorded_at is not None
        head = AuditChainHead.objects.get(id=42)
        assert (head.last_seq, head.last_id, head.last_hash) == (event.seq, event.pk, event.hash)

    def test_an_unsealed_event_changes_only_by_being_sealed_in_its_place(self):
        first = record()
        second = record(sealed=False)
        seal_sql = "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s"
        right_hash = compute_hash(first.hash, second)
        # its content, alone or with its seal
        assert "append-only" in _refused("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [second.pk])
        assert "append-only" in _refused("UPDATE audit_auditevent SET reason = 'x', seq = 2, prev_hash = %s, "
                                         "hash = %s WHERE id = %s", [first.hash, right_hash, second.pk])
        # a seal that does not link: a gap, a wrong predecessor, a wrong hash; a fork (a second #1)
        for seq, prev, digest in ((3, first.hash, right_hash), (2, GENESIS_HASH, right_hash), (2, first.hash, "f" * 64),
                                  (0, GENESIS_HASH, right_hash)):
            assert "does not link" in _refused(seal_sql, [seq, prev, digest, second.pk]), seq
        assert "audit_chain_seq_unique" in _refused(seal_sql, [1, GENESIS_HASH, compute_hash(GENESIS_HASH, second),
                                                               second.pk])
        # nor is it deleted
        assert "append-only" in _refused("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
        # half a seal (and, were the triggers off, the check constraint audit_sealed_whole)
        assert "does not link" in _refused("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [second.pk])
        # the right values by hand are a seal: accepted, but its head did not move, which verify_audit reports
        execute(seal_sql, [2, first.hash, right_hash, second.pk])
        report = verify_chain()
        assert not report.ok and "events were added around the chain" in report.problem
        # and once sealed, an event never changes again (nor is it unsealed)
        assert "append-only" in _refused("UPDATE audit_auditevent SET seq = NULL, prev_hash = NULL, hash = NULL "
                                         "WHERE id = %s", [second.pk])

    def test_the_head_moves_only_forward_to_a_sealed_event_of_its_chain(self):
        first, second = record(), record()
        move = "UPDATE audit_auditchainhead SET last_seq = %s, last_id = %s, last_hash = %s WHERE id = 42"
        assert "chain head" in _refused(move, [first.seq, first.pk, first.hash])  # backwards
        assert "chain head" in _refused(move, [second.seq + 1, second.pk, second.hash])  # to no event
        other = record(customer_id=7)
        assert "chain head" in _refused(move, [other.seq, other.pk, other.hash])  # to another chain's event
        execute(move, [second.seq, second.pk, second.hash])  # where it is: allowed, a no-op
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
