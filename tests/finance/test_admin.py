"""Finance models in Django admin: read only, and what admin can do goes through the services."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from finance.models import Allocation, CreditNote, Payment, TopUp, Withdrawal
from finance.services.allocation import payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.top_ups import payment_top_up
from finance.services.withdrawals import withdrawal_record
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "x-secret-pass-1")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_every_model_is_listed_and_read_only(admin_client):
    cust = customer()
    pay = payment(cust, "100")
    inv = purchase_invoice(cust, "10")
    payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
    payment_top_up(payment=pay, amount="50", actor=SYSTEM)
    credit_note_issue(customer=cust, amount="5", reason="r", actor=SYSTEM)
    withdrawal_record(customer=cust, amount="5", method="cash", actor=SYSTEM)
    for model in (Payment, Allocation, TopUp, CreditNote, Withdrawal):
        name = model._meta.model_name
        assert admin_client.get(reverse(f"admin:finance_{name}_changelist")).status_code == 200
        obj = model.objects.first()
        page = admin_client.get(reverse(f"admin:finance_{name}_change", args=[obj.pk]))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert admin_client.get(reverse(f"admin:finance_{name}_add")).status_code == 403


def test_admin_actions_call_the_services(admin_client):
    cust = customer()
    pay = payment(cust, "100")
    inv = purchase_invoice(cust, "10")
    (row,) = payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
    admin_client.post(reverse("admin:finance_allocation_changelist"),
                      {"action": "undo_allocations", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.reversed_at is not None
    assert AuditEvent.objects.filter(action="finance.allocation.reverse", actor_label="root").count() == 1
    top_up = payment_top_up(payment=pay, amount="90", actor=SYSTEM)
    admin_client.post(reverse("admin:finance_topup_changelist"),
                      {"action": "remove_top_ups", "_selected_action": [top_up.pk]})
    top_up.refresh_from_db()
    assert top_up.removed_at is not None
    admin_client.post(reverse("admin:finance_payment_changelist"),
                      {"action": "delete_payments", "_selected_action": [pay.pk]})
    pay.refresh_from_db()
    assert pay.deleted_at is not None
