"""common.bulk: rows written by COPY are the rows bulk_create writes, numbered from the sequence, checked by the
database's constraints."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from banking.models import Statement, StatementLine, Suggestion
from common.bulk import copy_rows, instances, reserve_ids
from tests.banking.factories import bank_account

pytestmark = pytest.mark.django_db


def _statement():
    account = bank_account()
    return Statement.objects.create(account=account, file_name="f", file_sha256="0" * 64, file_size=1, format="csv",
                                    lines_total=0, lines_new=0, lines_duplicate=0, imported_at=timezone.now(),
                                    imported_by="test")


def _line(statement, pk, position, identity="k", amount="1.50"):
    return {"id": pk, "account_id": statement.account_id, "statement_id": statement.pk, "position": position,
            "identity": identity, "booking_date": timezone.localdate(), "amount": Decimal(amount), "currency": "SGD",
            "created_at": timezone.now()}


def test_reserved_ids_ascend_and_copy_writes_every_column_with_the_defaults():
    statement = _statement()
    ids = reserve_ids(StatementLine, 3)
    assert ids == sorted(ids) and len(set(ids)) == 3
    lines = instances(StatementLine, [_line(statement, pk, n, f"k{n}") for n, pk in enumerate(ids, 1)])
    assert lines[0].state == "new" and lines[0].payment_created is False and lines[0].reconciled_by == ""
    with transaction.atomic():
        assert copy_rows(StatementLine, lines, with_pk=True) == 3
        copy_rows(Suggestion, instances(Suggestion, [{"line_id": ids[0], "rank": 1, "score": 90, "kind": "assign",
                                                      "allocations": [{"invoice": 1, "amount": "1.50"}],
                                                      "reasons": ["a 'quoted' reason\tand a tab"]}]), with_pk=False)
    stored = StatementLine.objects.get(pk=ids[1])
    assert (stored.position, stored.identity, stored.amount, stored.state) == (2, "k2", Decimal("1.5"), "new")
    suggestion = Suggestion.objects.get(line_id=ids[0])
    assert suggestion.allocations == [{"invoice": 1, "amount": "1.50"}]
    assert suggestion.reasons == ["a 'quoted' reason\tand a tab"]
    nxt = StatementLine.objects.create(**{**_line(statement, None, 9, "k9"), "id": None})
    assert nxt.pk > ids[-1]  # the sequence went past the reserved ids


def test_a_constraint_refuses_the_copy_as_it_refuses_an_insert():
    statement = _statement()
    ids = reserve_ids(StatementLine, 2)
    rows = instances(StatementLine, [_line(statement, ids[0], 1, "same"), _line(statement, ids[1], 2, "same")])
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_rows(StatementLine, rows, with_pk=True)
    zero = instances(StatementLine, [_line(statement, ids[0], 1, "zero", amount="0")])
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_rows(StatementLine, zero, with_pk=True)
    assert not StatementLine.objects.exists()
