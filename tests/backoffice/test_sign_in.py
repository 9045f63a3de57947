import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


class TestStaffSignIn:
    def test_anonymous_is_sent_to_sign_in(self, client):
        response = client.get(reverse("dashboard"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_staff_signs_in_and_the_event_is_audited(self, client, finance_user):
        response = client.post(reverse("login"), {"username": "finance", "password": PASSWORD})
        assert response.status_code == 302
        event = AuditEvent.objects.get(action="access.sign_in")
        assert event.actor_label == "finance" and event.actor_kind == "staff" and event.ip == "127.0.0.1"

    def test_wrong_password_is_refused_with_a_message_and_audited(self, client, finance_user):
        response = client.post(reverse("login"), {"username": "finance", "password": "nope"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
        assert AuditEvent.objects.filter(action="access.sign_in_failed", actor_label="finance").count() == 1

    def test_a_customer_cannot_sign_in_to_the_back_office(self, client):
        UserFactory(username="portaluser")
        response = client.post(reverse("login"), {"username": "portaluser", "password": PASSWORD})
        assert response.status_code == 200
        assert "This sign-in is for staff" in response.content.decode()

    def test_a_customer_session_gets_403_on_staff_pages(self, client):
        user = UserFactory(username="portaluser2")
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        assert client.get(reverse("dashboard")).status_code == 403

    def test_failed_sign_ins_are_throttled_per_user_and_ip(self, client, finance_user, settings):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(reverse("login"), {"username": "finance", "password": "wrong"})
        response = client.post(reverse("login"), {"username": "finance", "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()

    def test_sign_out_is_audited(self, finance_client):
        response = finance_client.post(reverse("logout"))
        assert response.status_code == 302
        assert AuditEvent.objects.filter(action="access.sign_out", actor_label="finance").exists()

    def test_the_admin_uses_the_same_sign_in(self, client):
        response = client.get("/admin/login/")
        assert response.status_code == 200
        assert "Staff sign-in" in response.content.decode()
