"""Sealing (audit.sealing, the beat task) and the anchors kept outside the database: a rewrite of a whole chain,
hashes and head recomputed as the database's owner could, verifies without the anchor and is caught with it;
verify_audit reports the unsealed events and fails when one is older than allowed; the task runs on a real
Celery worker; the email digest carries an anchor verify_audit can check."""

from __future__ import annotations

import json
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.models import AuditChainHead, AuditEvent
from audit.sealing import email_anchor, read_anchors, seal_all, seal_events
from audit.services import GENESIS_HASH, compute_hash
from audit.verify import verify_chain
from tests.audit.helpers import execute, record, triggers_disabled


def _anchor_lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _rewrite_chain(chain: int, *, drop_newest: int = 0) -> None:
    """What the database's owner can do: edit the chain's first event, optionally drop its newest events, then
    recompute every hash and the head so that the chain verifies again."""
    with triggers_disabled():
        events = list(AuditEvent.objects.filter(chain=chain).order_by("seq"))
        for gone in events[len(events) - drop_newest :]:
            execute("DELETE FROM audit_auditevent WHERE id = %s", [gone.pk])
        events = events[: len(events) - drop_newest]
        execute("UPDATE audit_auditevent SET reason = 'rewritten' WHERE id = %s", [events[0].pk])
        prev = GENESIS_HASH
        for event in events:
            event.refresh_from_db()
            digest = compute_hash(prev, event)
            execute(
                "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
                [prev, digest, event.pk],
            )
            prev = digest
        execute(
            "UPDATE audit_auditchainhead SET last_seq = %s, last_id = %s, last_hash = %s WHERE id = %s",
            [events[-1].seq, events[-1].pk, prev, chain],
        )


@pytest.mark.django_db
class TestAnchors:
    def test_each_seal_anchors_the_heads_it_moved(self, settings, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            (
                record(sealed=False, customer_id=5),
                record(sealed=False, customer_id=69),
                record(sealed=False, customer_id=None),
            )
            first = seal_events()
            record(sealed=False, customer_id=6)
            second = seal_events()
            assert seal_events().sealed == 0  # nothing left: no line
        assert (first.sealed, second.sealed) == (3, 1)
        lines = _anchor_lines(settings.AUDIT_ANCHOR_FILE)
        assert [sorted(line["heads"]) for line in lines] == [["0", "5"], ["6"]]
        assert {line["database"] for line in lines} == {connection.settings_dict["NAME"]}
        head = AuditChainHead.objects.get(id=5)
        assert lines[0]["heads"]["5"] == [2, head.last_id, head.last_hash]
        anchors = read_anchors(settings.AUDIT_ANCHOR_FILE)
        assert sorted(anchors) == [0, 5, 6] and anchors[5].seq == 2

    def test_an_anchor_not_committed_is_not_written(self, settings, django_capture_on_commit_callbacks):
        record(sealed=False)
        with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
            seal_events()
            transaction.set_rollback(True)
        assert callbacks == [] and not Path(settings.AUDIT_ANCHOR_FILE).exists()

    def test_a_chain_rewritten_with_every_hash_recomputed_is_caught_only_by_its_anchor(
        self, settings, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            for i in range(6):
                record(sealed=False, customer_id=42, object_id=i)
                record(sealed=False, customer_id=7, object_id=i)
            seal_all()
        anchored = AuditChainHead.objects.get(id=42)
        with transaction.atomic():
            _rewrite_chain(42)
            assert verify_chain().ok  # without the anchor, the rewrite is invisible: every hash links
            report = verify_chain(anchor_file=settings.AUDIT_ANCHOR_FILE)
            transaction.set_rollback(True)
        assert not report.ok and report.broken_id == anchored.last_id
        assert "chain 42's event #6" in report.problem and "the chain was rewritten" in report.problem

    def test_a_chain_cut_back_below_its_anchor_is_caught(self, settings, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            for i in range(5):
                record(sealed=False, customer_id=42, object_id=i)
            seal_all()
        with transaction.atomic():
            _rewrite_chain(42, drop_newest=2)
            assert verify_chain().ok
            report = verify_chain(anchor_file=settings.AUDIT_ANCHOR_FILE)
            transaction.set_rollback(True)
        assert not report.ok and "chain 42 has no event #5" in report.problem

    def test_anchors_of_another_database_are_ignored_and_a_bad_line_is_reported(self, tmp_path):
        record()
        path = tmp_path / "anchor.jsonl"
        path.write_text(
            json.dumps({"at": "x", "database": "elsewhere", "heads": {"42": [1, 1, "f" * 64]}}) + "\n"
        )
        report = verify_chain(anchor_file=str(path))
        assert report.ok and report.anchored == 0 and "no anchor for this database" in report.anchor_note
        path.write_text("not json\n")
        report = verify_chain(anchor_file=str(path))
        assert not report.ok and "line 1" in report.problem and "is not an audit anchor" in report.problem

    def test_the_command_names_the_anchor_it_checked(self, settings, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            record(sealed=False, customer_id=3), record(sealed=False, customer_id=None)
            seal_all()
        out = StringIO()
        call_command("verify_audit", stdout=out)
        assert "2 chain head(s) match the anchor file" in out.getvalue()
        assert "Every event is sealed." in out.getvalue()
        with transaction.atomic():
            _rewrite_chain(3)
            with pytest.raises(CommandError) as caught:
                call_command("verify_audit")
            transaction.set_rollback(True)
        assert caught.value.returncode == 1 and "the chain was rewritten" in str(caught.value)


@pytest.mark.django_db
class TestUnsealed:
    def test_unsealed_events_are_counted_with_the_age_of_the_oldest(self):
        sealed = record()
        oldest = record(sealed=False)
        record(sealed=False)
        report = verify_chain()
        assert report.ok and report.count == 1 and report.last_id == sealed.pk
        assert report.unsealed == 2 and report.oldest_unsealed_id == oldest.pk
        assert 0 <= report.oldest_unsealed_age < 60
        out = StringIO()
        call_command("verify_audit", stdout=out)
        assert f"2 event(s) not sealed yet; the oldest, #{oldest.pk}" in out.getvalue()

    def test_verify_audit_fails_when_an_event_stayed_unsealed_too_long(self, settings):
        event = record(sealed=False)
        time.sleep(1.1)
        settings.AUDIT_UNSEALED_MAX_AGE_SECONDS = 1
        with pytest.raises(CommandError) as caught:
            call_command("verify_audit")
        assert caught.value.returncode == 1
        assert f"NOT SEALED: 1 event(s) not sealed yet; the oldest, #{event.pk}" in str(caught.value)
        assert "more than the 1 s allowed" in str(caught.value)
        call_command("verify_audit", "--max-unsealed-age", "600", stdout=StringIO())  # within the limit: OK
        call_command("seal_audit", stdout=StringIO())
        out = StringIO()
        call_command("verify_audit", stdout=out)
        assert "Every event is sealed." in out.getvalue()

    def test_sealing_goes_in_batches_until_nothing_is_left(self):
        for i in range(50):
            record(sealed=False, customer_id=i % 3 or None, object_id=i)
        assert seal_all(batch=7) == 50
        assert not AuditEvent.objects.filter(seq__isnull=True).exists()
        ids_in_seal_order = list(
            AuditEvent.objects.filter(chain=0).order_by("seq").values_list("id", flat=True)
        )
        assert ids_in_seal_order == sorted(
            ids_in_seal_order
        )  # committed in id order here: sealed in id order
        assert verify_chain().ok

    def test_the_beat_schedule_seals_at_least_once_a_minute(self):
        from audit.tasks import email_audit_anchor, seal_audit_trail

        entry = django_settings.CELERY_BEAT_SCHEDULE["seal-audit-trail"]
        assert entry["task"] == seal_audit_trail.name == "audit.tasks.seal_audit_trail" and entry["schedule"] <= 60
        digest = django_settings.CELERY_BEAT_SCHEDULE["email-audit-anchor"]
        assert digest["task"] == email_audit_anchor.name


@pytest.mark.django_db(transaction=True)
def test_the_seal_task_runs_on_a_real_worker_and_anchors_what_it_sealed(celery_worker, settings):
    from audit.tasks import seal_audit_trail

    for i in range(12):
        with transaction.atomic():
            record(sealed=False, customer_id=i % 4 or None, object_id=i)
    assert seal_audit_trail.delay().get(timeout=60) == 12
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    heads = {line_chain for line in _anchor_lines(settings.AUDIT_ANCHOR_FILE) for line_chain in line["heads"]}
    assert heads == {"0", "1", "2", "3"}
    report = verify_chain(anchor_file=settings.AUDIT_ANCHOR_FILE)
    assert report.ok and report.count == 12 and report.anchored == 4 and report.unsealed == 0


@pytest.mark.django_db
class TestEmailDigest:
    def test_the_digest_mails_every_head_as_an_anchor_verify_audit_checks(self, settings, tmp_path):
        record(customer_id=1), record(customer_id=2), record(customer_id=None)
        settings.AUDIT_ANCHOR_EMAILS = ["auditor@example.com"]
        assert email_anchor() == 1
        message = mail.outbox[-1]
        assert message.to == ["auditor@example.com"] and "3 sealed events" in message.subject
        line = message.body.strip().splitlines()[-1]
        assert sorted(json.loads(line)["heads"]) == ["0", "1", "2"]
        saved = tmp_path / "from-email.jsonl"
        saved.write_text(line + "\n")
        out = StringIO()
        call_command("verify_audit", "--anchor-file", str(saved), stdout=out)
        assert "3 chain head(s) match the anchor file" in out.getvalue()

    def test_no_recipients_no_mail(self, settings):
        record()
        settings.AUDIT_ANCHOR_EMAILS = []
        assert email_anchor() == 0 and not mail.outbox
