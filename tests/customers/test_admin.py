"""Django admin: every customers model is there, read only; what it can do goes through the services."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from customers.models import Reservation, ReservationStatus, Subscription, TransactionKind
from customers.services import notification_record, reservation_reserve
from tests.customers.factories import (
    SYSTEM,
    SubscriptionFactory,
    funded_wallet,
    ledger_post,
    portal_user,
    postpaid,
)

pytestmark = pytest.mark.django_db
MODELS = ["customer", "transaction", "reservation", "masterwallet", "masterwalletentry", "subscription",
          "notification", "customeruser"]


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123456")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_every_model_is_registered_and_read_only(admin_client):
    customer = postpaid("100")
    ledger_post(customer, TransactionKind.CALL, "-1")
    reservation_reserve(customer_id=customer.pk, amount=Decimal("1"), actor=SYSTEM, at=timezone.now())
    funded_wallet("10")
    SubscriptionFactory(customer=customer)
    notification_record(customer_id=customer.pk, kind="invoice", recipient="a@b.test", subject="s", actor=SYSTEM,
                        at=timezone.now())
    portal_user(customer, username="adm-portal")
    for model in MODELS:
        assert admin_client.get(reverse(f"admin:customers_{model}_changelist")).status_code == 200, model
        assert admin_client.get(reverse(f"admin:customers_{model}_add")).status_code == 403, model
    page = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert 'name="credit_limit"' not in page and 'name="amount_due"' not in page
    assert f"/customers/{customer.pk}/" in page


def test_the_release_action_calls_the_service(admin_client):
    customer = postpaid("100")
    r = reservation_reserve(customer_id=customer.pk, amount=Decimal("5"), actor=SYSTEM, at=timezone.now())
    admin_client.post(reverse("admin:customers_reservation_changelist"),
                      {"action": "release_reservations", "_selected_action": [r.pk]})
    r.refresh_from_db()
    assert r.status == ReservationStatus.RELEASED
    event = AuditEvent.objects.get(action="customers.reservation.release")
    assert event.actor_label == "root" and event.reason == "Released from Django admin"


def test_the_expire_action_expires_only_the_overdue(admin_client):
    customer = postpaid("100")
    overdue = reservation_reserve(customer_id=customer.pk, amount=Decimal("5"), actor=SYSTEM,
                                  at=timezone.now() - dt.timedelta(hours=2), timeout_seconds=60)
    live = reservation_reserve(customer_id=customer.pk, amount=Decimal("5"), actor=SYSTEM, at=timezone.now())
    admin_client.post(reverse("admin:customers_reservation_changelist"),
                      {"action": "expire_overdue_reservations", "_selected_action": [overdue.pk, live.pk]})
    assert Reservation.objects.get(pk=overdue.pk).status == ReservationStatus.EXPIRED
    assert Reservation.objects.get(pk=live.pk).status == ReservationStatus.OPEN


def test_the_end_subscription_action(admin_client):
    sub = SubscriptionFactory()
    admin_client.post(reverse("admin:customers_subscription_changelist"),
                      {"action": "end_subscriptions", "_selected_action": [sub.pk]})
    assert Subscription.objects.get(pk=sub.pk).is_active is False
    assert AuditEvent.objects.filter(action="customers.subscription.update").count() == 1
