"""`manage.py import_statement PATH --account CODE`: import a statement file, or every file of a folder not
imported yet (a scheduled import of the folder banks deliver to by SFTP). Prints "N new lines, M already
imported" per file; exits 1 if any file was refused (the others are imported all the same).

In a folder, a refused file is remembered by its content (banking.RefusedFile): it is reported on the run that
refuses it, then skipped with one line on the next runs, until the file changes or the bank account is edited
(a CSV mapping fixed may read it). A single file named on the command line is always tried."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor
from banking import selectors
from banking.models import BankAccount
from banking.services.imports import (
    StatementImportError,
    check_size,
    path_sha256,
    refused_file_record,
    statement_import,
)
from common.times import local_time


class Command(BaseCommand):
    help = "Import a bank statement file (camt.053, MT940, CSV), or every file of a folder not imported yet."

    def add_arguments(self, parser):
        parser.add_argument("path", help="A statement file, or a folder of them.")
        parser.add_argument("--account", required=True, help="The bank account's code.")

    def handle(self, *args, path: str, account: str, **options):
        bank_account = BankAccount.objects.filter(code=account).first()
        if bank_account is None:
            raise CommandError(f"No bank account with the code {account!r}.")
        target = Path(path)
        if target.is_dir():
            files = sorted(p for p in target.iterdir() if p.is_file() and not p.name.startswith("."))
            folder = True
        elif target.is_file():
            files, folder = [target], False
        else:
            raise CommandError(f"{path} is neither a file nor a folder.")
        actor = Actor.system("import_statement")
        refused = 0
        for file in files:
            sha256 = path_sha256(file) if folder else ""
            if folder and selectors.imported_before(bank_account, sha256):
                self.stdout.write(f"{file.name}: imported before, skipped")
                continue
            if folder and (before := selectors.refused_before(bank_account, sha256)) is not None:
                self.stdout.write(f"{file.name}: refused on {local_time(before.refused_at)}, skipped until "
                                  "it changes")
                continue
            try:
                check_size(file.stat().st_size)
                statement = statement_import(account_id=bank_account.pk, file_name=file.name,
                                             content=file.read_bytes(), actor=actor, at=timezone.now())
            except StatementImportError as exc:
                refused += 1
                self.stderr.write(f"{file.name}: refused, nothing imported. {exc}")
                if folder:
                    refused_file_record(account_id=bank_account.pk, file_name=file.name, file_sha256=sha256,
                                        reason=str(exc), actor=actor, at=timezone.now())
                continue
            self.stdout.write(f"{file.name}: {statement.lines_new} new line{'s' if statement.lines_new != 1 else ''}, "
                              f"{statement.lines_duplicate} already imported")
        if refused:
            raise CommandError(f"{refused} file(s) refused.")
