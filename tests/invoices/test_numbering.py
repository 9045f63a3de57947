"""next_number: one series per prefix and year, created on first use, gapless within a transaction's life."""

import pytest
from django.db import transaction

from invoices.models import NumberSeries
from invoices.numbering import next_number

pytestmark = pytest.mark.django_db


def test_series_are_per_prefix_and_year_and_start_at_one():
    with transaction.atomic():
        taken = [next_number("INV", 2026), next_number("INV", 2026), next_number("CN", 2026), next_number("INV", 2027)]
    assert taken == ["INV-2026-000001", "INV-2026-000002", "CN-2026-000001", "INV-2027-000001"]
    assert dict(NumberSeries.objects.values_list("key", "last_value")) == {"INV-2026": 2, "CN-2026": 1, "INV-2027": 1}


def test_a_rollback_gives_the_number_back():
    with transaction.atomic():
        next_number("INV", 2026)
    with pytest.raises(RuntimeError), transaction.atomic():
        next_number("INV", 2026)
        raise RuntimeError
    with transaction.atomic():
        assert next_number("INV", 2026) == "INV-2026-000002"


@pytest.mark.django_db(transaction=True)
def test_refuses_to_run_outside_a_transaction():
    with pytest.raises(AssertionError, match="inside the document's transaction"):
        next_number("INV", 2026)
    assert not NumberSeries.objects.exists()
