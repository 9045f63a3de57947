"""`manage.py verify_audit` walks every chain and names the first broken event. Tampering is done as the
table's owner would: triggers disabled inside a transaction that is rolled back after each trial. The 300
events spread over 11 chains (customers 1 to 10, and none: chain 0)."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.models import AuditEvent
from audit.verify import verify_chain
from tests.audit.helpers import execute, record, triggers_disabled, varied_events

pytestmark = pytest.mark.django_db

N = 300
TRIALS_PER_KIND = 40
SEED = 20260301

# Each edit of one column of one row, as SQL: the value changes however slightly.
EDITS = {
    "occurred_at": "occurred_at = occurred_at + interval '1 microsecond'",
    "actor_kind": "actor_kind = CASE WHEN actor_kind = 'staff' THEN 'system' ELSE 'staff' END",
    "actor_label": "actor_label = actor_label || 'x'",
    "actor_user_id": "actor_user_id = COALESCE(actor_user_id + 1, 1)",
    "app": "app = CASE WHEN app = 'finance' THEN 'invoices' ELSE 'finance' END",
    "action": "action = action || 'x'",
    "object_type": "object_type = object_type || 'x'",
    "object_id": "object_id = object_id || '0'",
    "object_repr": "object_repr = object_repr || ' '",
    "customer_id": "customer_id = CASE WHEN customer_id IS NULL THEN 1 ELSE NULL END",
    "before": "before = jsonb_set(before, '{amount}', '\"0.000001\"')",
    "after": "after = after || '{\"status\": \"void\"}'::jsonb",
    "reason": "reason = reason || '.'",
    "request_id": "request_id = request_id || '1'",
    "ip": "ip = CASE WHEN ip = '10.0.0.7' THEN '10.0.0.8'::inet ELSE '10.0.0.7'::inet END",
    "user_agent": "user_agent = user_agent || ' '",
    "prev_hash": "prev_hash = md5(prev_hash) || md5(hash)",
    "hash": "hash = md5(hash) || md5(prev_hash)",
}
SWAPPED = ["occurred_at", "actor_kind", "actor_label", "actor_user_id", "app", "action", "object_type",
           "object_id", "object_repr", "customer_id", "before", "after", "reason", "request_id", "ip",
           "user_agent", "prev_hash", "hash"]


@pytest.fixture
def chain(db):
    varied_events(N)
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == N
    assert AuditEvent.objects.values("chain").distinct().count() == 11
    assert verify_chain().ok
    return ids


def _next_in_chain(event_id: int) -> int | None:
    """The id of the event after this one in its chain (None for the newest of its chain)."""
    event = AuditEvent.objects.get(pk=event_id)
    return AuditEvent.objects.filter(chain=event.chain, seq=event.seq + 1).values_list("id", flat=True).first()


def _chain_ids(chain_no: int) -> list[int]:
    return list(AuditEvent.objects.filter(chain=chain_no).order_by("seq").values_list("id", flat=True))


def _broken_after(tamper) -> int | None:
    """Tamper inside a savepoint, verify, roll the tampering back; the first broken id reported."""
    with transaction.atomic():
        with triggers_disabled():
            tamper()
        report = verify_chain(chunk_size=64)  # small chunks: breaks across chunk boundaries too
        transaction.set_rollback(True)
    return report.broken_id if not report.ok else None


def _swap(a: int, b: int) -> None:
    """Exchange two rows' whole contents (ids, chains and seqs stay: their places in the chain)."""
    execute("CREATE TEMPORARY TABLE swap_rows ON COMMIT DROP AS "
            "SELECT * FROM audit_auditevent WHERE id IN (%s, %s)", [a, b])
    execute("UPDATE audit_auditevent SET hash = 'tmp-h', prev_hash = 'tmp-p' WHERE id = %s", [b])
    assignments = ", ".join(f"{c} = o.{c}" for c in SWAPPED)
    copy = f"UPDATE audit_auditevent e SET {assignments} FROM swap_rows o WHERE e.id = %s AND o.id = %s"
    execute(copy, [a, b])
    execute(copy, [b, a])
    execute("DROP TABLE swap_rows")


class TestVerifyAuditCommand:
    def test_an_intact_chain_is_ok_with_its_count(self, chain):
        out = StringIO()
        call_command("verify_audit", stdout=out)
        assert f"Audit chain OK: {N} events" in out.getvalue()

    def test_an_empty_trail_is_ok(self, db):
        out = StringIO()
        call_command("verify_audit", stdout=out)
        assert "no sealed events yet" in out.getvalue() and "Every event is sealed." in out.getvalue()

    def test_a_broken_chain_exits_1_naming_the_first_broken_event(self, chain):
        victim = chain[123]
        with transaction.atomic():
            with triggers_disabled():
                execute("UPDATE audit_auditevent SET reason = 'rewritten' WHERE id = %s", [victim])
            with pytest.raises(CommandError) as caught:
                call_command("verify_audit", "--chunk-size", "50")
            transaction.set_rollback(True)
        assert caught.value.returncode == 1
        assert f"first broken event: #{victim}" in str(caught.value)
        assert "does not match its hash" in str(caught.value)


class TestTamperingIsDetected:
    """300 events; every trial picks random rows (plus the first and the last, always) and must be caught,
    naming the right event."""

    def _victims(self, chain, rng):
        return [chain[0], chain[-1], *rng.sample(chain, TRIALS_PER_KIND - 2)]

    def test_editing_any_field_of_any_row_is_detected(self, chain):
        rng = random.Random(SEED)
        for victim in self._victims(chain, rng):
            column = rng.choice(sorted(EDITS))
            broken = _broken_after(
                lambda v=victim, c=column: execute(f"UPDATE audit_auditevent SET {EDITS[c]} WHERE id = %s", [v]))
            assert broken == victim, f"editing {column} of #{victim} reported {broken}"

    def test_editing_every_field_of_one_row_is_detected_field_by_field(self, chain):
        victim = chain[len(chain) // 2]
        for column, edit in EDITS.items():
            broken = _broken_after(lambda e=edit: execute(f"UPDATE audit_auditevent SET {e} WHERE id = %s", [victim]))
            assert broken == victim, column

    def test_editing_a_row_and_recomputing_its_hash_is_detected_at_the_next_row(self, chain):
        from audit.services import compute_hash

        rng = random.Random(SEED + 1)
        for victim in self._victims(chain, rng):
            def tamper(v=victim):
                event = AuditEvent.objects.get(pk=v)
                event.reason = "forged"
                execute("UPDATE audit_auditevent SET reason = 'forged', hash = %s WHERE id = %s",
                        [compute_hash(event.prev_hash, event), v])

            broken = _broken_after(tamper)
            # the next row of its chain no longer links; for a chain's newest row, its head no longer matches
            assert broken == (_next_in_chain(victim) or victim)

    def test_deleting_any_row_is_detected(self, chain):
        rng = random.Random(SEED + 2)
        for victim in self._victims(chain, rng):
            expected = _next_in_chain(victim) or victim
            broken = _broken_after(lambda v=victim: execute("DELETE FROM audit_auditevent WHERE id = %s", [v]))
            # the row after the gap is the first broken one; deleting a chain's newest row breaks its head
            assert broken == expected, f"deleting #{victim}"

    def test_deleting_several_newest_rows_is_detected(self, chain):
        deleted = AuditEvent.objects.filter(id__gt=chain[-5]).order_by("chain", "-seq")
        lowest = deleted.first()  # the lowest chain walked first: its head names its newest deleted event
        broken = _broken_after(lambda: execute("DELETE FROM audit_auditevent WHERE id > %s", [chain[-5]]))
        assert broken == lowest.pk

    def test_deleting_a_row_and_renumbering_the_rest_of_its_chain_is_detected(self, chain):
        victim = AuditEvent.objects.get(pk=chain[77])
        following = _next_in_chain(victim.pk)

        def tamper():
            execute("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
            execute("UPDATE audit_auditevent SET seq = -(seq - 1) WHERE chain = %s AND seq > %s",
                    [victim.chain, victim.seq])
            execute("UPDATE audit_auditevent SET seq = -seq WHERE seq < 0")

        # the seqs are gapless again, but the event now in the victim's place does not link to its predecessor
        assert following is not None and _broken_after(tamper) == following

    def test_swapping_any_two_rows_of_a_chain_is_detected(self, chain):
        rng = random.Random(SEED + 3)
        first_chain, other = _chain_ids(0), _chain_ids(3)
        pairs = [(first_chain[0], first_chain[-1]), (other[10], other[11])]
        pairs += [tuple(sorted(rng.sample(_chain_ids(rng.randrange(11)), 2))) for _ in range(TRIALS_PER_KIND - 2)]
        for a, b in pairs:
            broken = _broken_after(lambda a=a, b=b: _swap(a, b))
            assert broken == a, f"swapping #{a} and #{b} reported {broken}"

    def test_the_tampering_was_rolled_back_each_time(self, chain):
        assert verify_chain().ok
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'audit_auditevent'::regclass "
                           "AND NOT tgisinternal")
            assert {row[0] for row in cursor.fetchall()} == {"O"}


class TestChainHead:
    def test_a_missing_head_with_events_is_reported(self, db):
        record()
        with transaction.atomic():
            with triggers_disabled():
                execute("DELETE FROM audit_auditchainhead")
            report = verify_chain()
            transaction.set_rollback(True)
        assert not report.ok and "head is missing" in report.problem

    def test_an_event_added_around_the_chain_is_reported(self, db):
        first = record()
        second = record()
        with transaction.atomic():
            with triggers_disabled():
                execute("UPDATE audit_auditchainhead SET last_seq = %s, last_id = %s, last_hash = %s WHERE id = %s",
                        [first.seq, first.pk, first.hash, first.chain])
            report = verify_chain()
            transaction.set_rollback(True)
        assert report.broken_id == second.pk

    def test_a_truncated_head_is_recreated_from_the_last_event(self, db):
        first = record()
        execute("TRUNCATE audit_auditchainhead")
        second = record()
        assert second.prev_hash == first.hash and (second.chain, second.seq) == (first.chain, first.seq + 1)
        assert verify_chain().ok


class TestOutsideTheChains:
    def test_an_event_put_outside_the_64_chains_is_reported(self, db):
        record()
        event = record()
        with transaction.atomic():
            with triggers_disabled():
                execute("ALTER TABLE audit_auditevent DROP CONSTRAINT audit_chain_range")
                execute("UPDATE audit_auditevent SET chain = 99 WHERE id = %s", [event.pk])
            report = verify_chain()
            transaction.set_rollback(True)
        assert report.broken_id == event.pk and "outside the 64 chains" in report.problem
