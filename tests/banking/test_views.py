"""The Bank pages: accounts (list, register, edit with the CSV mapping), statements (list, upload, page)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from banking import urls as banking_urls
from banking.models import BankAccount, ImportJob, Statement, StatementLine
from tests.banking.factories import CSV_BANK_A, bank_account, camt053, sample

pytestmark = pytest.mark.django_db


def upload(client, account, *files):
    return client.post(reverse("banking:statement-upload"),
                       {"account": account.pk, "files": [SimpleUploadedFile(name, content) for name, content in files]})


def test_every_banking_view_is_staff_only():
    for pattern in banking_urls.urlpatterns:
        assert getattr(pattern.callback, "staff_perms", None), f"{pattern.name} is not wrapped in staff_view"


class TestBankAccounts:
    def test_finance_registers_an_account_with_its_csv_mapping(self, finance_client):
        response = finance_client.post(reverse("banking:account-create"), {
            "name": "OCBC SGD", "code": "ocbc-sgd", "iban": "SG55OCBC0000999988887777", "currency": "sgd",
            "csv_delimiter": ";", "csv_date_column": "Date", "csv_date_format": "%d/%m/%Y",
            "csv_amount_column": "Amount", "csv_payer_column": "Payer"})
        assert response.status_code == 302
        account = BankAccount.objects.get(code="ocbc-sgd")
        assert (account.currency, account.csv_delimiter, account.has_csv_mapping) == ("SGD", ";", True)
        assert AuditEvent.objects.filter(action="banking.account.create", object_id=str(account.pk)).count() == 1

    def test_a_bad_mapping_is_shown_and_nothing_saved(self, finance_client):
        response = finance_client.post(reverse("banking:account-create"), {
            "name": "OCBC", "code": "ocbc", "iban": "1", "currency": "SGD", "csv_delimiter": ",",
            "csv_amount_column": "Amount", "csv_debit_column": "Debit", "csv_credit_column": "Credit"})
        assert response.status_code == 200
        assert "Map either one amount column or the debit and credit columns" in response.content.decode()
        assert not BankAccount.objects.exists()

    def test_a_code_taken_is_shown(self, finance_client):
        bank_account("dbs")
        response = finance_client.post(reverse("banking:account-create"), {
            "name": "Again", "code": "dbs", "iban": "2", "currency": "SGD", "csv_delimiter": ","})
        assert "exists already" in response.content.decode()

    def test_finance_edits_the_mapping(self, finance_client):
        account = bank_account()
        data = {"name": account.name, "code": account.code, "iban": account.iban, "currency": "SGD",
                "csv_delimiter": ",", "csv_date_format": "%Y-%m-%d", **CSV_BANK_A}
        assert finance_client.post(reverse("banking:account-edit", args=[account.pk]), data).status_code == 302
        account.refresh_from_db()
        assert account.csv_amount_column == "Amount"
        event = AuditEvent.objects.filter(action="banking.account.update").get()
        assert event.before["csv_amount_column"] == "" and event.after["csv_amount_column"] == "Amount"

    def test_the_currency_of_an_account_with_statements_cannot_change(self, finance_client):
        account = bank_account()
        upload(finance_client, account, ("nov.xml", sample("camt053_001_02.xml")))
        data = {"name": account.name, "code": account.code, "iban": account.iban, "currency": "USD",
                "csv_delimiter": ","}
        response = finance_client.post(reverse("banking:account-edit", args=[account.pk]), data)
        assert "cannot change" in response.content.decode()

    def test_the_list_searches_and_exports(self, finance_client):
        bank_account("dbs-sgd")
        bank_account("hsbc-usd", currency="USD")
        page = finance_client.get(reverse("banking:account-list"), {"currency": "usd"}).content.decode()
        assert "hsbc-usd" in page and "dbs-sgd" not in page
        export = finance_client.get(reverse("banking:account-list"), {"q": "hsbc", "format": "csv"})
        rows = b"".join(export.streaming_content).decode().splitlines()
        assert rows[0].startswith("id,name,code") and len(rows) == 2

    def test_a_currency_of_no_account_is_shown_and_left_out(self, finance_client):
        bank_account("dbs-sgd")
        page = finance_client.get(reverse("banking:account-list"), {"currency": "EUR"}).content.decode()
        assert "Currency: Select a valid choice" in page and "dbs-sgd" in page

    def test_the_viewer_sees_but_cannot_register(self, viewer_client):
        assert viewer_client.get(reverse("banking:account-list")).status_code == 200
        assert viewer_client.get(reverse("banking:account-create")).status_code == 403
        assert viewer_client.get(reverse("banking:statement-upload")).status_code == 403


class TestUpload:
    def test_several_files_each_with_its_result(self, finance_client):
        account = bank_account()
        response = upload(finance_client, account, ("nov.xml", sample("camt053_001_02.xml")),
                          ("nov.sta", sample("mt940.sta")), ("bad.xml", b"<Document>"))
        page = response.content.decode()
        assert response.status_code == 200
        assert "nov.xml: " in page and "3 new lines, 0 already imported" in page
        # The MT940 file has its own bank references; its first 75.25 of 7 November has none, and is the camt
        # file's line of that day (same date, amount and no reference): already imported.
        assert "nov.sta: " in page and "3 new lines, 1 already imported" in page
        assert "bad.xml: refused, nothing imported. Line 1: not well-formed XML" in page
        assert Statement.objects.count() == 2 and StatementLine.objects.count() == 6
        again = upload(finance_client, account, ("nov-again.sta", sample("mt940.sta"))).content.decode()
        assert "nov-again.sta: " in again and "0 new lines, 4 already imported" in again

    def test_a_50_mb_file_is_refused_on_the_page(self, finance_client):
        account = bank_account()
        response = upload(finance_client, account, ("huge.xml", b"<" + b" " * (50 * 1024 * 1024)))
        assert "huge.xml: refused, nothing imported. the file is 50.0 MB" in response.content.decode()
        assert not Statement.objects.exists() and not ImportJob.objects.exists()

    def test_a_wrong_currency_is_refused_on_the_page(self, finance_client):
        account = bank_account("usd", currency="USD")
        page = upload(finance_client, account, ("nov.xml", sample("camt053_001_02.xml"))).content.decode()
        assert "refused, nothing imported. the statement is in SGD" in page

    def test_no_file_is_an_error_on_the_form(self, finance_client):
        account = bank_account()
        response = finance_client.post(reverse("banking:statement-upload"), {"account": account.pk})
        assert response.status_code == 200 and "This field is required." in response.content.decode()

    def test_a_large_file_goes_to_the_worker(self, finance_client, settings, django_capture_on_commit_callbacks):
        settings.LEDGERDESK_BANK_IMPORT_INLINE_BYTES = 100
        account = bank_account()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            page = upload(finance_client, account, ("nov.xml", sample("camt053_001_02.xml"))).content.decode()
        job = ImportJob.objects.get()
        assert job.state == "queued" and bytes(job.content) == sample("camt053_001_02.xml")
        assert len(callbacks) == 1  # the task, sent after commit
        assert reverse("banking:import-progress", args=[job.pk]) in page and "<progress" in page
        progress = finance_client.get(reverse("banking:import-progress", args=[job.pk])).content.decode()
        assert 'hx-trigger="every 1s"' in progress and "reading the file" in progress


class TestStatements:
    def test_the_list_filters_and_exports(self, finance_client):
        account = bank_account()
        upload(finance_client, account, ("nov.xml", sample("camt053_001_02.xml")), ("nov.sta", sample("mt940.sta")))
        page = finance_client.get(reverse("banking:statement-list"), {"file_format": "mt940"}).content.decode()
        assert "nov.sta" in page and "nov.xml" not in page
        export = finance_client.get(reverse("banking:statement-list"), {"q": "nov", "format": "csv"})
        rows = b"".join(export.streaming_content).decode().splitlines()
        assert len(rows) == 3 and "lines_already_imported" in rows[0]

    def test_an_import_range_that_ends_before_it_starts_is_shown_and_matches_nothing(self, finance_client):
        upload(finance_client, bank_account(), ("nov.sta", sample("mt940.sta")))
        today = timezone.localdate()
        page = finance_client.get(reverse("banking:statement-list"), {"imported_from": today.isoformat()}).content
        assert b"nov.sta" in page
        page = finance_client.get(reverse("banking:statement-list"), {
            "imported_from": today.isoformat(), "imported_to": (today - dt.timedelta(days=1)).isoformat()}).content
        assert b"Imported to:" in page and b"No statements match" in page and b"nov.sta" not in page

    def test_the_list_reads_a_constant_number_of_queries(self, finance_client):
        def count():
            with CaptureQueriesContext(connection) as queries:
                assert finance_client.get(reverse("banking:statement-list")).status_code == 200
            return len(queries)

        account = bank_account()
        upload(finance_client, account, ("a.xml", camt053([{"amount": "1.00"}])))
        few = count()
        for n in range(5):
            upload(finance_client, account, (f"b{n}.xml", camt053([{"amount": f"{n + 2}.00"}])))
        assert count() == few

    def test_the_statement_page_shows_its_lines(self, finance_client):
        account = bank_account()
        upload(finance_client, account, ("nov.xml", sample("camt053_001_02.xml")))
        statement = Statement.objects.get()
        page = finance_client.get(reverse("banking:statement-detail", args=[statement.pk])).content.decode()
        assert "ACME TRADING PTE LTD" in page and "INV-2026-000159 ACME" in page
        assert "3 new lines, 0 already imported" in page
