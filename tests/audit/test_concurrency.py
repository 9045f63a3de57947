"""Appends and seals at once, against PostgreSQL with threads. Writers append without waiting for one another;
sealers running meanwhile seal only committed events, each exactly once, and every chain comes out gapless,
unforked and linked, including events whose transaction commits after a later id was sealed."""

import threading
import time
from collections import defaultdict

import pytest
from django.db import transaction

from audit.actors import Actor
from audit.models import AuditEvent
from audit.sealing import seal_all, seal_events
from audit.services import audit_record
from audit.verify import verify_chain
from tests.threads import run_threads, start_threads

THREADS = 8
EVENTS = 25


class _Rollback(Exception):
    pass


def _append(actor, n, i, customer_id, action="finance.thing.change"):
    audit_record(
        actor=actor,
        action=action,
        app="finance",
        object_type="finance.thing",
        object_id=f"{n}-{i}",
        after={"i": i, "n": n},
        customer_id=customer_id,
    )


def _assert_chains(expected_counts):
    rows = list(
        AuditEvent.objects.order_by("chain", "seq").values_list("chain", "seq", "prev_hash", "hash", "id")
    )
    chains = defaultdict(list)
    for row in rows:
        chains[row[0]].append(row)
    assert {c: len(r) for c, r in chains.items()} == expected_counts
    for chain in chains.values():
        assert [r[1] for r in chain] == list(range(1, len(chain) + 1))  # gapless, despite rollbacks
        assert len({r[2] for r in chain}) == len(chain)  # no two events follow the same one: no fork
        assert all(chain[i][2] == chain[i - 1][3] for i in range(1, len(chain)))
    return chains


@pytest.mark.django_db(transaction=True)
def test_writers_and_sealers_at_once_give_every_event_one_place_in_a_gapless_chain(settings):
    """8 writers (half about no customer: all in chain 0; half about their own customer), some holding their
    transaction open a while after appending, some rolling back; 2 sealers sealing all the while."""
    done = threading.Event()
    seals = []

    def writer(n: int):
        actor = Actor(kind="system", label=f"worker-{n}")
        customer_id = n if n % 2 else None
        for i in range(EVENTS):
            with transaction.atomic():
                _append(actor, n, i, customer_id)
                if i % 4 == n % 4:  # a slow transaction: later ids commit, and are sealed, before this one
                    time.sleep(0.05)
            if i % 5 == 0:  # a change that records its event and then rolls back
                try:
                    with transaction.atomic():
                        _append(actor, n, i, customer_id, action="finance.thing.lost")
                        raise _Rollback
                except _Rollback:
                    pass

    def sealer(n: int):
        while not done.is_set():
            seals.append(seal_events(limit=7).sealed)  # small batches: many seals interleave with the writers
            time.sleep(0.01)

    sealers, sealer_errors = start_threads(2, sealer, together=False, name="sealer")
    errors = run_threads(THREADS, writer, timeout=120)
    done.set()
    for thread in sealers:
        thread.join(timeout=60)
    assert not errors and not sealer_errors, errors + sealer_errors
    assert sum(seals) > 0  # the sealers did seal while the writers wrote
    seal_all()

    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert AuditEvent.objects.count() == THREADS * EVENTS
    assert not AuditEvent.objects.filter(action="finance.thing.lost").exists()
    _assert_chains({0: 4 * EVENTS, 1: EVENTS, 3: EVENTS, 5: EVENTS, 7: EVENTS})
    report = verify_chain(anchor_file=settings.AUDIT_ANCHOR_FILE)
    assert report.ok and report.count == THREADS * EVENTS and report.anchored == 5, report


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_later_one_was_sealed_is_sealed_after_it():
    """Ids are taken at insert, commits happen in any order: the sealer never sees an uncommitted event, and
    seals it when it commits, after the later id (no watermark on ids that would skip it)."""
    appended, sealed_meanwhile = threading.Event(), threading.Event()
    ids = {}

    def slow(n: int):
        with transaction.atomic():
            ids["slow"] = audit_record(
                actor=Actor.system("slow"),
                action="finance.thing.change",
                app="finance",
                object_type="finance.thing",
                object_id="slow",
                after={"x": 1},
            ).pk
            appended.set()
            assert sealed_meanwhile.wait(timeout=30)

    threads, errors = start_threads(1, slow, together=False)
    assert appended.wait(timeout=30)
    with transaction.atomic():
        later = audit_record(
            actor=Actor.system("quick"),
            action="finance.thing.change",
            app="finance",
            object_type="finance.thing",
            object_id="quick",
            after={"x": 2},
        )
    assert later.pk > ids["slow"]
    assert seal_all() == 1  # only the committed one
    assert AuditEvent.objects.get(pk=later.pk).seq == 1
    sealed_meanwhile.set()
    threads[0].join(timeout=30)
    assert not errors, errors
    assert AuditEvent.objects.get(pk=ids["slow"]).seq is None  # committed now, not sealed yet
    assert seal_all() == 1
    slow_event, later_event = AuditEvent.objects.get(pk=ids["slow"]), AuditEvent.objects.get(pk=later.pk)
    assert (slow_event.chain, slow_event.seq) == (0, 2) and slow_event.prev_hash == later_event.hash
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_seal_each_event_once():
    """A sealer waits for the one sealing before it (an advisory lock), then sees what it sealed."""
    for i in range(200):
        with transaction.atomic():
            _append(Actor.system("bulk"), 0, i, i % 3 or None)
    counts = []
    errors = run_threads(4, lambda n: counts.append(seal_all(batch=30)), timeout=60)
    assert not errors, errors
    assert sum(counts) == 200
    _assert_chains({0: 67, 1: 67, 2: 66})
    assert verify_chain().ok
