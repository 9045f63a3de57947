"""No change without its event, no event without its change: an event recorded by a change that then
rolls back does not exist, and leaves no hole in the chain."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from audit.actors import Actor
from audit.models import AuditChainHead, AuditEvent
from audit.services import audit_record
from audit.verify import verify_chain
from tests.audit.helpers import seal
from tests.factories import UserFactory

ACTOR = Actor(kind="staff", label="finance", user_id=1)


class Refused(ValueError):
    pass


@transaction.atomic
def _email_change(*, user_id: int, email: str, actor: Actor, refuse_after_audit: bool = False):
    """A service shaped like every other: lock, change, record its one event; then perhaps refuse."""
    user = get_user_model().objects.select_for_update().get(pk=user_id)
    before = {"email": user.email}
    user.email = email
    user.save(update_fields=["email"])
    audit_record(actor=actor, action="settings.user.email_change", app="settings", obj=user,
                 before=before, after={"email": email})
    if refuse_after_audit:
        raise Refused("refused after the event was written")


def _state(user):
    head = AuditChainHead.objects.filter(id=0).values_list("last_seq", "last_id", "last_hash").first()
    return AuditEvent.objects.count(), head, get_user_model().objects.get(pk=user.pk).email


@pytest.mark.django_db
class TestRolledBackChangeInsideATransaction:
    def test_the_event_of_a_refused_change_does_not_exist(self):
        user = UserFactory(email="old@example.com")
        _email_change(user_id=user.pk, email="first@example.com", actor=ACTOR)
        before = _state(user)
        with pytest.raises(Refused):
            _email_change(user_id=user.pk, email="new@example.com", actor=ACTOR, refuse_after_audit=True)
        assert _state(user) == before
        assert not AuditEvent.objects.filter(after__email="new@example.com").exists()

    def test_an_outer_rollback_takes_the_event_with_it(self):
        user = UserFactory(email="old@example.com")
        before = _state(user)
        with transaction.atomic():
            _email_change(user_id=user.pk, email="new@example.com", actor=ACTOR)
            assert AuditEvent.objects.filter(after__email="new@example.com").exists()
            transaction.set_rollback(True)
        assert _state(user) == before


@pytest.mark.django_db(transaction=True)
class TestRolledBackChangeForReal:
    def test_a_rolled_back_change_leaves_no_event_and_no_hole(self):
        user = UserFactory(email="old@example.com")
        with pytest.raises(Refused):
            _email_change(user_id=user.pk, email="lost@example.com", actor=ACTOR, refuse_after_audit=True)
        assert not AuditEvent.objects.exists()
        assert get_user_model().objects.get(pk=user.pk).email == "old@example.com"
        kept = _email_change_and_get(user)
        # the rolled-back insert used an id, but the chain has no hole: the kept event is its first
        assert (kept.chain, kept.seq) == (0, 1) and AuditEvent.objects.count() == 1
        assert verify_chain().ok


def _email_change_and_get(user):
    _email_change(user_id=user.pk, email="kept@example.com", actor=ACTOR)
    seal()
    return AuditEvent.objects.get(after__email="kept@example.com")
