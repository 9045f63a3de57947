"""The invoice email, word for word (its body is the template invoices/email/invoice.txt): a customer's
name with markup characters reaches the plain-text email as typed, never HTML-escaped."""

from decimal import Decimal

import pytest
from django.core import mail

from customers.money import display
from invoices.services import PurchaseLine, invoice_send
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import SYSTEM, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return CustomerFactory(name="Lee & Sons <Pte>", code="LEE", billing_email="ap@lee.example")


def _send(invoice, capture):
    with capture(execute=True):
        invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
    (message,) = mail.outbox
    invoice.refresh_from_db()
    return message, invoice


def test_a_purchase_invoice_email_says_the_amount_due_and_its_date(customer, settings,
                                                                   django_capture_on_commit_callbacks):
    settings.LEDGERDESK_SELLER = {**settings.LEDGERDESK_SELLER, "name": "Tel & Co"}
    draft = purchase_invoice(customer, [PurchaseLine(description="Set-up", quantity="1", unit_price="1234.5",
                                                     kind="service")])
    message, invoice = _send(draft, django_capture_on_commit_callbacks)
    assert message.subject == f"Invoice {invoice.number} from Tel & Co"
    assert message.body == (
        "Dear Lee & Sons <Pte>,\n\n"
        f"Please find attached invoice {invoice.number} ({invoice.name}) for {display(invoice.total)} SGD.\n"
        f"Amount due: {display(invoice.total)} SGD, by {invoice.due_date:%d %b %Y}.\n\n"
        "Thank you,\nTel & Co")
    assert invoice.total > Decimal("1000")  # the thousands separator is in the text above


def test_a_top_up_invoice_email_says_the_credits_it_becomes(customer, settings,
                                                            django_capture_on_commit_callbacks):
    settings.LEDGERDESK_SELLER = {**settings.LEDGERDESK_SELLER, "name": "Tel & Co"}
    message, invoice = _send(top_up_invoice(customer, "300"), django_capture_on_commit_callbacks)
    assert message.subject == f"Invoice {invoice.number} from Tel & Co"
    assert message.body == (
        "Dear Lee & Sons <Pte>,\n\n"
        f"Please find attached invoice {invoice.number} ({invoice.name}) for 300.00 SGD.\n"
        "Once paid, the amount becomes credits on your account.\n\n"
        "Thank you,\nTel & Co")
