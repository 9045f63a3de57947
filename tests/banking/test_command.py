"""`manage.py import_statement PATH --account CODE`: a file, or every file of a folder not imported yet."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from banking.models import RefusedFile, Statement, StatementLine
from banking.services.accounts import bank_account_update
from tests.banking.factories import bank_account, sample
from tests.customers.factories import SYSTEM

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_statement", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_imports_a_file_and_says_what_was_new(tmp_path):
    bank_account("dbs")
    path = tmp_path / "nov.sta"
    path.write_bytes(sample("mt940.sta"))
    assert run(str(path), "--account", "dbs") == "nov.sta: 4 new lines, 0 already imported\n"
    assert run(str(path), "--account", "dbs") == "nov.sta: 0 new lines, 4 already imported\n"


def test_a_folder_imports_only_the_files_not_imported_yet(tmp_path):
    bank_account("dbs")
    (tmp_path / "1-nov.xml").write_bytes(sample("camt053_001_02.xml"))
    assert "1-nov.xml: 3 new lines" in run(str(tmp_path), "--account", "dbs")
    (tmp_path / "2-dec.xml").write_bytes(sample("camt053_001_08.xml"))
    out = run(str(tmp_path), "--account", "dbs")
    assert out == "1-nov.xml: imported before, skipped\n2-dec.xml: 3 new lines, 0 already imported\n"
    assert Statement.objects.count() == 2 and StatementLine.objects.count() == 6


def test_a_refused_file_is_named_and_the_others_imported(tmp_path):
    bank_account("dbs")
    (tmp_path / "a-bad.xml").write_bytes(b"<Document><unclosed></Document>")
    (tmp_path / "b-good.sta").write_bytes(sample("mt940.sta"))
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_statement", str(tmp_path), "--account", "dbs")
    assert StatementLine.objects.count() == 4


def test_a_refused_file_is_reported_once_then_skipped_until_it_changes(tmp_path):
    account = bank_account("dbs")
    bad = tmp_path / "a-bad.xml"
    bad.write_bytes(b"<Document><unclosed></Document>")
    (tmp_path / "b-good.sta").write_bytes(sample("mt940.sta"))
    with pytest.raises(CommandError, match="1 file"):
        run(str(tmp_path), "--account", "dbs")
    refusal = RefusedFile.objects.get(account=account)
    assert refusal.file_name == "a-bad.xml" and refusal.reason
    assert AuditEvent.objects.filter(action="banking.statement.refuse").count() == 1
    # The next scheduled runs: nothing refused again (exit 0), the file named as skipped, no new event.
    for _ in range(2):
        out = run(str(tmp_path), "--account", "dbs")
        assert out.startswith("a-bad.xml: refused on ") and "skipped until it changes" in out
        assert "b-good.sta: imported before, skipped" in out
    assert AuditEvent.objects.filter(action="banking.statement.refuse").count() == 1
    # Changed (the bank delivered it again, fixed): tried and imported.
    bad.write_bytes(sample("camt053_001_02.xml"))
    out = run(str(tmp_path), "--account", "dbs")
    assert out.startswith("a-bad.xml: ") and " new lines, " in out.splitlines()[0]
    assert Statement.objects.filter(file_name="a-bad.xml").exists()


def test_a_refused_file_is_tried_again_after_the_account_is_edited(tmp_path):
    account = bank_account("dbs")
    (tmp_path / "export.csv").write_bytes(b"Date,Amount,Payer\n2026-11-03,100.00,ACME\n")
    with pytest.raises(CommandError, match="1 file"):
        run(str(tmp_path), "--account", "dbs")  # no CSV mapping yet
    assert "skipped until it changes" in run(str(tmp_path), "--account", "dbs")
    bank_account_update(account_id=account.pk, name=account.name, csv_date_column="Date", csv_amount_column="Amount",
                        csv_payer_column="Payer", actor=SYSTEM, at=timezone.now())
    assert "export.csv: 1 new line, 0 already imported" in run(str(tmp_path), "--account", "dbs")


def test_a_single_file_named_is_always_tried(tmp_path):
    bank_account("dbs")
    bad = tmp_path / "a-bad.xml"
    bad.write_bytes(b"<Document><unclosed></Document>")
    for _ in range(2):
        with pytest.raises(CommandError, match="1 file"):
            run(str(bad), "--account", "dbs")
    assert not RefusedFile.objects.exists()


def test_an_unknown_account_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="No bank account with the code 'nope'"):
        call_command("import_statement", str(tmp_path), "--account", "nope")
