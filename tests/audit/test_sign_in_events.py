"""Sign-ins, failed sign-ins and sign-outs are audit events, with where they came from."""

import pytest
from django.urls import reverse

from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import audit_record_access
from audit.verify import verify_chain
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

AGENT = "Mozilla/5.0 (audit test)"


def _only(action):
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, events
    return events[0]


class TestStaffAccessEvents:
    def test_a_sign_in_records_who_from_where_and_the_request(self, client, finance_user):
        response = client.post(reverse("login"), {"username": "finance", "password": PASSWORD},
                               HTTP_USER_AGENT=AGENT, HTTP_X_REQUEST_ID="lb-7f3a")
        assert response.status_code == 302 and response["X-Request-ID"] == "lb-7f3a"
        event = _only("access.sign_in")
        assert (event.app, event.actor_kind, event.actor_label) == ("access", "staff", "finance")
        assert event.actor_user_id == finance_user.pk
        assert (event.object_type, event.object_id) == ("auth.user", str(finance_user.pk))
        assert event.after == {"signed_in": True, "username": "finance"}
        assert (event.ip, event.user_agent, event.request_id) == ("127.0.0.1", AGENT, "lb-7f3a")
        assert event.occurred_at.utcoffset().total_seconds() == 0
        assert verify_chain().ok

    def test_a_failed_sign_in_records_the_name_tried_and_why(self, client, finance_user):
        client.post(reverse("login"), {"username": "finance", "password": "wrong"}, HTTP_USER_AGENT=AGENT)
        event = _only("access.sign_in_failed")
        assert event.actor_label == "finance" and event.actor_user_id is None
        assert event.after == {"signed_in": False, "username": "finance"}
        assert "correct username and password" in event.reason
        assert event.ip == "127.0.0.1" and event.request_id

    def test_a_sign_in_with_a_nul_character_is_a_400_not_a_crash(self, client):
        # Refused before the sign-in view (common.middleware.RefuseNulBytesMiddleware): no username holds a
        # NUL, so nothing is authenticated, throttled or recorded.
        response = client.post(reverse("login"), {"username": "eve\x00il", "password": "x"})
        assert response.status_code == 400 and "NUL character" in response.content.decode()
        assert not AuditEvent.objects.filter(action="access.sign_in_failed").exists()

    def test_a_sign_out_records_the_state_change(self, finance_client, finance_user):
        finance_client.post(reverse("logout"))
        event = _only("access.sign_out")
        assert event.before == {"signed_in": True} and event.after["signed_in"] is False
        assert event.object_id == str(finance_user.pk)

    def test_a_forged_request_id_is_replaced(self, client, finance_user):
        response = client.get(reverse("login"), HTTP_X_REQUEST_ID="bad id\twith spaces")
        assert response["X-Request-ID"] != "bad id\twith spaces" and len(response["X-Request-ID"]) == 32


class TestPortalAccessEvents:
    def test_a_customer_sign_in_is_attributed_to_the_customer(self):
        actor = Actor(kind="customer", label="acme-user", user_id=91, ip="198.51.100.4")
        event = audit_record_access(actor=actor, action="access.sign_in", customer_id=12)
        assert (event.customer_id, event.actor_kind, event.object_id) == (12, "customer", "91")

    def test_an_unknown_access_action_is_refused(self):
        from audit.services import AuditError

        with pytest.raises(AuditError, match="unknown access action"):
            audit_record_access(actor=Actor(kind="staff", label="x"), action="access.teleport")
        assert not AuditEvent.objects.exists()
