"""Bank statements in a real browser: register the account, upload a large statement, watch the worker's
progress bar give way to the result, and see its lines."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from banking.models import StatementLine
from tests.banking.factories import IBAN, camt053, sample

pytestmark = [pytest.mark.browser, pytest.mark.celery]


def test_register_an_account_upload_see_progress_then_the_result(staff_page, celery_worker, settings, tmp_path):
    settings.LEDGERDESK_BANK_IMPORT_INLINE_BYTES = 50_000  # the large file goes to the worker, the small one not
    page = staff_page
    page.goto("/bank/statements/")
    page.get_by_role("link", name="Bank accounts").click()
    page.get_by_role("link", name="+ New bank account").click()
    page.fill("input[name=name]", "DBS operating")
    page.fill("input[name=code]", "dbs-sgd")
    page.fill("input[name=iban]", IBAN)
    page.fill("input[name=currency]", "sgd")
    page.get_by_role("button", name="Register bank account").click()
    expect(page.locator("#account-table")).to_contain_text("dbs-sgd")

    big = tmp_path / "december.xml"
    big.write_bytes(camt053([{"amount": f"{n + 1}.00", "e2e": f"E{n}", "date": "2026-12-01"} for n in range(3000)]))
    small = tmp_path / "november.sta"
    small.write_bytes(sample("mt940.sta"))
    page.goto("/bank/statements/upload/")
    page.set_input_files("input[name=files]", [str(big), str(small)])
    page.get_by_role("button", name="Import").click()

    results = page.locator("#import-results")
    expect(results).to_contain_text("november.sta: 4 new lines, 0 already imported")
    expect(results.locator("progress")).to_have_count(1)  # the large file, handed to the worker
    expect(results).to_contain_text("december.xml: 3000 new lines, 0 already imported", timeout=60_000)
    expect(results.locator("progress")).to_have_count(0)
    assert StatementLine.objects.count() == 3004

    results.get_by_role("link", name="3000 new lines, 0 already imported").click()
    expect(page.locator("#statement-counts")).to_have_text("3000 new lines, 0 already imported")
    assert page.console_errors == []
