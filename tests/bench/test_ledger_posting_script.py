"""bench/ledger_posting's pgbench script calls the reservation functions by their SQL signatures: run its two
statements here, as pgbench would (variables substituted), so a change of signature breaks a test and not
only the next bench run."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection

from audit.models import AuditEvent
from bench.ledger_posting import FINAL, FUNCTIONS_SCRIPT, RESERVE
from customers.models import Reservation, ReservationStatus, Transaction
from tests.customers.factories import postpaid

pytestmark = pytest.mark.django_db


def statements(first_id: int) -> list[str]:
    """The script's SQL commands, as pgbench reads them: a line each, pgbench's \\set and \\gset removed."""
    script = FUNCTIONS_SCRIPT.format(first_id=first_id, reserve=RESERVE, final=FINAL)
    lines = [line for line in script.splitlines() if line and not line.startswith("\\set")]
    return [re.sub(r"\s*\\gset\s*$", "", line).rstrip(";") for line in lines]


def test_the_pgbench_script_reserves_and_commits_one_charge():
    customer = postpaid("100")
    reserve, resolve = statements(customer.pk)
    assert ":cid" in reserve and ":rid" in resolve
    with connection.cursor() as cursor:
        cursor.execute(reserve.replace(":cid", str(customer.pk)))
        (rid,) = cursor.fetchone()
        cursor.execute(resolve.replace(":rid", str(rid)))
        assert cursor.fetchone() == ("ok",)
    reservation = Reservation.objects.get(pk=rid)
    assert reservation.status == ReservationStatus.COMMITTED and reservation.amount == Decimal(RESERVE)
    assert Transaction.objects.get(pk=reservation.charge_id).amount == -Decimal(FINAL)
    assert AuditEvent.objects.filter(customer_id=customer.pk).count() == 2
