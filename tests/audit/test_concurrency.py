"""Concurrent appends: 8 threads x 25 events (and some rolled back); half the threads write about no
customer (all in chain 0, contending for its head), half about their own customer (chains 1, 3, 5, 7).
Every chain comes out gapless and unforked."""

from collections import defaultdict

import pytest
from django.db import transaction

from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import audit_record
from audit.verify import verify_chain
from tests.threads import run_threads

THREADS = 8
EVENTS = 25


class _Rollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_threads_appending_at_once_give_gapless_unforked_chains():
    def worker(n: int):
        actor = Actor(kind="system", label=f"worker-{n}")
        customer_id = n if n % 2 else None
        for i in range(EVENTS):
            with transaction.atomic():
                audit_record(actor=actor, action="finance.thing.change", app="finance",
                             object_type="finance.thing", object_id=f"{n}-{i}", after={"i": i, "n": n},
                             customer_id=customer_id)
            if i % 5 == 0:  # a change that records its event and then rolls back
                try:
                    with transaction.atomic():
                        audit_record(actor=actor, action="finance.thing.lost", app="finance",
                                     object_type="finance.thing", object_id="lost", after={"i": i},
                                     customer_id=customer_id)
                        raise _Rollback
                except _Rollback:
                    pass

    errors = run_threads(THREADS, worker, timeout=120)
    assert not errors, errors

    rows = list(AuditEvent.objects.order_by("chain", "seq").values_list("chain", "seq", "prev_hash", "hash", "action"))
    assert len(rows) == THREADS * EVENTS
    assert not any(r[4] == "finance.thing.lost" for r in rows)
    chains = defaultdict(list)
    for row in rows:
        chains[row[0]].append(row)
    assert {c: len(r) for c, r in chains.items()} == {0: 4 * EVENTS, 1: EVENTS, 3: EVENTS, 5: EVENTS, 7: EVENTS}
    for chain in chains.values():
        assert [r[1] for r in chain] == list(range(1, len(chain) + 1))  # gapless, despite rollbacks
        assert len({r[2] for r in chain}) == len(chain)  # no two events follow the same one: no fork
        assert all(chain[i][2] == chain[i - 1][3] for i in range(1, len(chain)))
    assert verify_chain().ok
