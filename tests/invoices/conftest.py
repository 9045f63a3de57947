import pytest
from django.core import mail  # noqa: F401

from customers import ledger
from customers.models import Customer, InvoiceSetup


@pytest.fixture
def customer(db):
    from tests.customers.factories import CustomerFactory

    return CustomerFactory(name="Acme Pte Ltd", code="ACME", billing_email="ap@acme.example")


@pytest.fixture
def consolidated(db):
    from tests.customers.factories import CustomerFactory

    return CustomerFactory(name="Globex Corp", code="GLOBEX", billing_email="billing@globex.example",
                           invoice_setup=InvoiceSetup.CONSOLIDATED)


@pytest.fixture
def no_invoices(db):
    from tests.customers.factories import CustomerFactory

    return CustomerFactory(name="Initech", code="INITECH", invoice_setup=InvoiceSetup.NONE)


def assert_ledger_consistent(customer: Customer) -> None:
    """The running totals equal the figures recomputed from the rows (check_ledger's rule)."""
    customer.refresh_from_db()
    figures = ledger.recompute(customer.pk)
    assert (customer.amount_unbilled, customer.amount_due, customer.amount_reserved) == (
        figures["amount_unbilled"], figures["amount_due"], figures["amount_reserved"])
