"""`manage.py import_statement PATH --account CODE`: a file, or every file of a folder not imported yet."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from banking.models import Statement, StatementLine
from tests.banking.factories import bank_account, sample

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


def test_an_unknown_account_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="No bank account with the code 'nope'"):
        call_command("import_statement", str(tmp_path), "--account", "nope")
