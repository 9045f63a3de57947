"""The invoices demo data: invoices in every state the invoices app makes, a consistent ledger, and a
second run that creates nothing."""

import io

import pytest

from audit.models import AuditEvent
from customers.selectors import ledger_mismatches
from invoices.models import Invoice, InvoiceStatus, InvoiceType

pytestmark = pytest.mark.django_db


def test_seeds_every_state_once_and_keeps_the_ledger_consistent():
    from customers import demo as customers_demo
    from invoices import demo

    customers_demo.seed(io.StringIO())
    summary = demo.seed(io.StringIO())

    assert "monthly invoices from the billing runs" in summary
    invoices = Invoice.objects.all()
    assert {(i.type, i.status) for i in invoices} >= {
        (InvoiceType.TOP_UP, InvoiceStatus.DRAFT), (InvoiceType.TOP_UP, InvoiceStatus.SENT),
        (InvoiceType.TOP_UP, InvoiceStatus.VOID), (InvoiceType.PURCHASE, InvoiceStatus.DRAFT),
        (InvoiceType.PURCHASE, InvoiceStatus.SENT), (InvoiceType.MONTHLY, InvoiceStatus.SENT),
        (InvoiceType.MONTHLY, InvoiceStatus.PAID)}
    monthly = invoices.filter(type=InvoiceType.MONTHLY)
    assert monthly.values("period_start").distinct().count() == 6
    assert not monthly.filter(customer__invoice_setup="none").exists()
    assert ledger_mismatches() == []

    count, events = Invoice.objects.count(), AuditEvent.objects.count()
    assert demo.seed(io.StringIO()) == "0 monthly invoices from the billing runs, 0 purchase and top-up invoices"
    assert (Invoice.objects.count(), AuditEvent.objects.count()) == (count, events)
