"""Importing statements: stored once (a database constraint holds it), refused whole when unreadable, one
audit event per import."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from banking.models import LineState, Statement, StatementLine
from banking.services.imports import StatementImportError, statement_import
from tests.banking.factories import CSV_BANK_A, CSV_BANK_B, bank_account, camt053, sample
from tests.customers.factories import SYSTEM

pytestmark = pytest.mark.django_db


def run(account, content: bytes, name: str = "statement") -> Statement:
    return statement_import(account_id=account.pk, file_name=name, content=content, actor=SYSTEM, at=timezone.now())


class TestStatementImport:
    @pytest.mark.parametrize(("name", "mapping", "count"), [
        ("camt053_001_02.xml", {}, 3), ("camt053_001_08.xml", {}, 3), ("mt940.sta", {}, 4),
        ("bank_a.csv", CSV_BANK_A, 3), ("bank_b.csv", CSV_BANK_B, 3)])
    def test_stores_every_line_of_each_format(self, name, mapping, count):
        account = bank_account(**mapping)
        statement = run(account, sample(name), name)
        assert (statement.lines_total, statement.lines_new, statement.lines_duplicate) == (count, count, 0)
        lines = list(StatementLine.objects.filter(statement=statement).order_by("position"))
        assert [line.position for line in lines] == list(range(1, count + 1))
        assert all(line.state == LineState.NEW and line.account_id == account.pk for line in lines)
        assert sum(line.amount for line in lines) == sum(
            (Decimal(x) for x in {"mt940.sta": ["1090", "-250.50", "75.25", "75.25"],
                                  "camt053_001_08.xml": ["500", "120", "180"]}.get(name, ["1090", "-250.50", "75.25"])),
            Decimal(0))

    def test_the_same_file_again_adds_nothing(self):
        account = bank_account()
        run(account, sample("camt053_001_02.xml"))
        again = run(account, sample("camt053_001_02.xml"))
        assert (again.lines_new, again.lines_duplicate) == (0, 3)
        assert StatementLine.objects.count() == 3

    def test_an_overlapping_statement_adds_only_its_new_days(self):
        account = bank_account()
        first = camt053([{"amount": "10.00", "date": "2026-11-01", "e2e": "A"},
                         {"amount": "20.00", "date": "2026-11-02", "e2e": "B"},
                         {"amount": "20.00", "date": "2026-11-02", "e2e": "B"}])
        overlap = camt053([{"amount": "20.00", "date": "2026-11-02", "e2e": "B"},
                           {"amount": "20.00", "date": "2026-11-02", "e2e": "B"},
                           {"amount": "30.00", "date": "2026-11-03", "e2e": "C"}])
        assert run(account, first).lines_new == 3
        second = run(account, overlap)
        assert (second.lines_new, second.lines_duplicate) == (1, 2)
        # Two equal transfers on one day stay two lines.
        assert StatementLine.objects.filter(amount=Decimal("20")).count() == 2
        assert StatementLine.objects.count() == 4

    def test_the_bank_reference_is_the_identity_when_there_is_one(self):
        account = bank_account()
        run(account, camt053([{"amount": "10.00", "ref": "R1", "text": "first"}]))
        moved = run(account, camt053([{"amount": "10.00", "ref": "R1", "date": "2026-11-09", "text": "again"}]))
        assert (moved.lines_new, moved.lines_duplicate) == (0, 1)

    def test_the_database_refuses_a_second_line_of_one_identity(self):
        account = bank_account()
        run(account, camt053([{"amount": "10.00", "ref": "R1"}]))
        line = StatementLine.objects.get()
        line.pk = None
        with pytest.raises(IntegrityError), transaction.atomic():
            line.save()

    def test_the_same_lines_in_another_account_are_its_own(self):
        run(bank_account("one"), sample("camt053_001_02.xml"))
        other = run(bank_account("two"), sample("camt053_001_02.xml"))
        assert other.lines_new == 3

    def test_writes_one_audit_event(self):
        account = bank_account()
        before = AuditEvent.objects.count()
        statement = run(account, sample("mt940.sta"), "nov.sta")
        event = AuditEvent.objects.latest("id")
        assert AuditEvent.objects.count() == before + 1
        assert event.action == "banking.statement.import" and event.object_id == str(statement.pk)
        assert event.after["lines_new"] == 4 and event.after["file_name"] == "nov.sta"


class TestRefusals:
    def test_a_wrong_currency_is_refused_and_nothing_stored(self):
        account = bank_account(currency="USD")
        with pytest.raises(StatementImportError, match="the statement is in SGD; the account .* is in USD"):
            run(account, sample("camt053_001_02.xml"))
        assert not Statement.objects.exists() and not StatementLine.objects.exists()

    def test_one_entry_in_another_currency_refuses_the_file_with_its_line(self):
        account = bank_account()
        content = camt053([{"amount": "1.00"}, {"amount": "2.00", "currency": "USD"}])
        with pytest.raises(StatementImportError, match="an entry in USD") as caught:
            run(account, content)
        assert caught.value.line is not None
        assert not StatementLine.objects.exists()

    def test_a_statement_of_another_account_is_refused(self):
        account = bank_account(iban="SG55OCBC0000999988887777")
        with pytest.raises(StatementImportError, match="is for the account SG12DBSS00001234567890"):
            run(account, sample("mt940.sta"))

    def test_an_account_typed_with_spaces_still_matches(self):
        account = bank_account(iban="sg12 dbss 0000 1234 5678 90")
        assert run(account, sample("mt940.sta")).lines_new == 4

    def test_a_bad_line_refuses_the_whole_file(self):
        account = bank_account(**CSV_BANK_A)
        content = sample("bank_a.csv") + b"2026-11-31,Bad,Someone,,10.00\n"
        with pytest.raises(StatementImportError, match="Line 5: the date '2026-11-31'"):
            run(account, content)
        assert not StatementLine.objects.exists() and not Statement.objects.exists()

    def test_a_file_over_the_size_limit_is_refused_unread(self, settings):
        account = bank_account()
        fifty_mb = b"<" + b" " * (50 * 1024 * 1024)
        with pytest.raises(StatementImportError, match="50.0 MB; statements of at most 40 MB"):
            run(account, fifty_mb)
        assert not Statement.objects.exists()

    def test_nothing_is_written_to_the_audit_trail_for_a_refused_file(self):
        account = bank_account()
        before = AuditEvent.objects.count()
        with pytest.raises(StatementImportError):
            run(account, b"garbage")
        assert AuditEvent.objects.count() == before
