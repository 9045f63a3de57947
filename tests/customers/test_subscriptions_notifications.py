import datetime as dt
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import Notification, NotificationKind, Subscription, TransactionKind
from customers.services import (
    NotificationError,
    SubscriptionError,
    notification_record,
    subscription_create,
    subscription_update,
)
from tests.customers.factories import NOW, SYSTEM, prepaid

pytestmark = pytest.mark.django_db
D = Decimal


def create(customer, **kwargs):
    data = {"product": "Cloud PBX seat", "renewal_date": dt.date(2026, 4, 1), "renewal_price": D("20"),
            "renewal_cost": D("12"), "quantity": 5}
    return subscription_create(customer_id=customer.pk, actor=SYSTEM, **{**data, **kwargs})


class TestSubscriptions:
    def test_create_keeps_price_cost_and_margin(self):
        sub = create(prepaid())
        assert sub.margin == D("8")
        event = AuditEvent.objects.get(action="customers.subscription.create")
        assert event.after["margin"] == "8.000000" and event.after["negative_margin"] is False

    def test_a_negative_margin_is_allowed_and_flagged(self):
        sub = create(prepaid())
        subscription_update(subscription_id=sub.pk, renewal_cost=D("25"), actor=SYSTEM)
        sub.refresh_from_db()
        assert sub.margin == D("-5")
        event = AuditEvent.objects.get(action="customers.subscription.update")
        assert event.before == {"renewal_cost": "12.000000", "margin": "8.000000", "negative_margin": False}
        assert event.after == {"renewal_cost": "25.000000", "margin": "-5.000000", "negative_margin": True}

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"product": ""}, "product is required"),
        ({"kind": TransactionKind.CALL}, "A subscription is one of"),
        ({"quantity": 0}, "at least 1"),
        ({"period_months": 61}, "1 to 60 months"),
        ({"renewal_price": D("-1")}, "Renewal price must be more than zero"),
    ])
    def test_refuses_bad_input(self, kwargs, message):
        with pytest.raises(SubscriptionError, match=message):
            create(prepaid(), **kwargs)
        assert not Subscription.objects.exists()


class TestNotifications:
    def test_records_what_was_sent_with_an_audit_event(self):
        customer = prepaid()
        note = notification_record(customer_id=customer.pk, kind=NotificationKind.TWO_FACTOR_CODE,
                                   recipient="+6591234567", channel="sms", subject="Your sign-in code",
                                   actor=SYSTEM, at=NOW)
        assert note.sent_at == NOW and note.status == "sent"
        assert AuditEvent.objects.filter(action="customers.notification.record", customer_id=customer.pk).count() == 1

    def test_refuses_an_unknown_kind_or_channel(self):
        customer = prepaid()
        with pytest.raises(NotificationError, match="Unknown notification kind"):
            notification_record(customer_id=customer.pk, kind="fax-blast", recipient="x", subject="y",
                                 actor=SYSTEM, at=NOW)
        with pytest.raises(NotificationError, match="email or sms"):
            notification_record(customer_id=customer.pk, kind="invoice", recipient="x", subject="y",
                                 channel="pigeon", actor=SYSTEM, at=NOW)
        assert not Notification.objects.exists()
