"""Concurrent appends: 8 threads x 25 events (and some rolled back) give one gapless chain, no fork."""

import threading

import pytest
from django.db import connection, transaction

from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import audit_record
from audit.verify import verify_chain

THREADS = 8
EVENTS = 25


class _Rollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_threads_appending_at_once_give_one_gapless_unforked_chain():
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(n: int):
        try:
            actor = Actor(kind="system", label=f"worker-{n}")
            barrier.wait(timeout=30)
            for i in range(EVENTS):
                with transaction.atomic():
                    audit_record(actor=actor, action="finance.thing.change", app="finance",
                                 object_type="finance.thing", object_id=f"{n}-{i}", after={"i": i, "n": n})
                if i % 5 == 0:  # a change that records its event and then rolls back
                    try:
                        with transaction.atomic():
                            audit_record(actor=actor, action="finance.thing.lost", app="finance",
                                         object_type="finance.thing", object_id="lost", after={"i": i})
                            raise _Rollback
                    except _Rollback:
                        pass
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors

    rows = list(AuditEvent.objects.order_by("id").values_list("id", "prev_hash", "hash", "action"))
    assert len(rows) == THREADS * EVENTS
    assert [r[0] for r in rows] == list(range(1, THREADS * EVENTS + 1))  # gapless, despite rollbacks
    assert len({r[1] for r in rows}) == len(rows)  # no two events follow the same one: no fork
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
    assert not any(r[3] == "finance.thing.lost" for r in rows)
    assert verify_chain().ok
