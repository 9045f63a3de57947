"""Django admin: invoices are read only; its actions go through the services."""

import pytest
from django.urls import reverse

from invoices.models import InvoiceStatus
from tests.invoices.factories import purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-not-used-123")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_pages_open_and_nothing_can_be_added_or_deleted(admin_client, customer):
    invoice = purchase_invoice(customer, sent=True)
    for name in ("invoice", "invoiceline", "invoicelineentry", "creditapplication", "numberseries"):
        assert admin_client.get(reverse(f"admin:invoices_{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:invoices_{name}_add")).status_code == 403
    html = admin_client.get(reverse("admin:invoices_invoice_change", args=[invoice.pk])).content.decode()
    assert 'name="total"' not in html and invoice.number in html


def test_the_actions_call_the_services_and_report_refusals(admin_client, customer):
    draft, sent_purchase = top_up_invoice(customer), purchase_invoice(customer, sent=True)
    url = reverse("admin:invoices_invoice_changelist")
    response = admin_client.post(url, {"action": "void_invoices", "_selected_action": [draft.pk, sent_purchase.pk]},
                                 follow=True)
    html = response.content.decode()
    assert "1 invoice(s) voided" in html and "cancelled with a credit note" in html
    draft.refresh_from_db()
    sent_purchase.refresh_from_db()
    assert draft.status == InvoiceStatus.VOID and draft.void_reason == "Voided from Django admin"
    assert sent_purchase.status == InvoiceStatus.SENT
