"""Django admin shows the trail read only: no add, change or delete, not even for a superuser."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.audit.helpers import record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_list_shows_events_with_filters(admin_client):
    record(reason="visible in admin")
    response = admin_client.get(reverse("admin:audit_auditevent_changelist"), {"app__exact": "finance"})
    assert response.status_code == 200
    assert "finance.payment.record" in response.content.decode()


def test_an_event_opens_read_only(admin_client):
    event = record()
    response = admin_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html and event.hash in html


def test_no_add_change_or_delete(admin_client):
    event = record()
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:audit_auditevent_change", args=[event.pk]),
                             {"reason": "x"}).status_code == 403
    assert admin_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]),
                             {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_the_chain_head_is_read_only_too(admin_client):
    record()
    assert admin_client.get(reverse("admin:audit_auditchainhead_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:audit_auditchainhead_add")).status_code == 403
