"""The finance demo data: payments in every state, through the services, idempotent, ledger consistent."""

import io

import pytest

from customers import demo as customers_demo
from customers.selectors import ledger_mismatches
from finance import demo
from finance.checks import finance_mismatches
from finance.models import Payment, PaymentStatus, TopUp

pytestmark = pytest.mark.django_db


def test_seeds_every_state_once_and_keeps_the_ledger_consistent():
    customers_demo.seed(stdout=io.StringIO())
    first = demo.seed(stdout=io.StringIO())
    assert "provisioned top-up invoice" in first and "withdrawal" in first
    counts = (Payment.objects.count(), TopUp.objects.count())
    assert demo.seed(stdout=io.StringIO()) == "nothing new"
    assert (Payment.objects.count(), TopUp.objects.count()) == counts
    statuses = set(Payment.objects.filter(reference__startswith="DEMO-PAY-").values_list("status", flat=True))
    assert statuses == {PaymentStatus.UNASSIGNED, PaymentStatus.UNALLOCATED, PaymentStatus.PARTIALLY_ALLOCATED,
                        PaymentStatus.ALLOCATED, PaymentStatus.DELETED}
    assert TopUp.objects.filter(invoice__provisioned_at__isnull=False).exists()
    assert ledger_mismatches() == [] and finance_mismatches() == []


def test_without_customers_it_says_what_is_missing():
    assert demo.seed(stdout=io.StringIO()).startswith("skipped")
