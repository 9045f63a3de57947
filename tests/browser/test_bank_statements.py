"""Bank statements in a real browser: register the account, upload a large statement and watch the worker's
progress bar give way to the result; upload a statement, confirm a suggestion, see the payment, undo, ignore."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from banking.models import LineState, StatementLine
from tests.banking.factories import IBAN, bank_account, camt053, sample
from tests.finance.factories import customer, purchase_invoice

pytestmark = pytest.mark.browser


@pytest.mark.celery
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


def test_upload_confirm_a_suggestion_see_the_payment_then_undo(staff_page):
    page = staff_page
    page.on("dialog", lambda dialog: dialog.accept())
    acme = customer(name="Acme Trading Pte Ltd")
    invoice = purchase_invoice(acme, "1090")
    bank_account()
    content = camt053([{"amount": "1090.00", "text": f"{invoice.number} ACME", "name": "ACME TRADING PTE LTD",
                        "date": timezone.localdate().isoformat(), "e2e": "ACME-PAY-1"},
                       {"amount": "12.50", "sign": "DBIT", "text": "Monthly account fee", "name": "DBS",
                        "date": timezone.localdate().isoformat()}])
    page.goto("/bank/statements/upload/")
    page.set_input_files("input[name=files]", files=[{"name": "dec.xml", "mimeType": "application/xml",
                                                       "buffer": content}])
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-results")).to_contain_text("dec.xml: 2 new lines, 0 already imported")

    page.goto("/bank/reconcile/")
    row = page.locator("tr", has_text="ACME TRADING PTE LTD")
    expect(row).to_contain_text(f"{invoice.number} is in the remittance text, open 1,090.00 SGD")
    row.get_by_role("button", name="Confirm").click()
    expect(page.locator("#toasts")).to_contain_text("reconciled")
    expect(page.locator("#line-table")).not_to_contain_text("ACME TRADING PTE LTD")  # out of the inbox
    line = StatementLine.objects.get(amount=1090)
    assert line.state == LineState.RECONCILED

    page.goto(f"/payments/{line.payment_id}/")
    expect(page.locator("#payment-status")).to_have_text("Allocated")
    page.locator("#payment-statement-line a").click()
    expect(page.locator("#line-state")).to_have_text("Reconciled")
    page.fill("input[name=reason]", "Wrong customer")
    page.click("#undo")
    expect(page.locator("#line-state")).to_have_text("Suggested")
    invoice.refresh_from_db()
    assert invoice.status == "sent"

    fee = StatementLine.objects.get(amount=-12.5)
    page.goto(f"/bank/reconcile/{fee.pk}/")
    page.fill("input[name=reason]", "Bank fee")
    page.click("#ignore")
    expect(page.locator("#line-table")).not_to_contain_text("Monthly account fee")
    assert page.console_errors == []


def test_a_line_without_suggestions_is_given_a_customer_by_the_picker_then_confirmed(staff_page):
    page = staff_page
    gamma = customer(name="Gamma Networks Pte Ltd", code="GAMMA-SG")
    customer(name="Gamut Holdings", code="GAMUT")
    invoice = purchase_invoice(gamma, "75")
    account = bank_account()
    from banking.services.imports import statement_import
    from tests.customers.factories import SYSTEM

    statement_import(account_id=account.pk, file_name="dec.xml", actor=SYSTEM, at=timezone.now(),
                     content=camt053([{"amount": "75.00", "text": "hello", "name": "WAYNE ENTERPRISES",
                                       "date": timezone.localdate().isoformat()}]))
    line = StatementLine.objects.get()
    assert line.state == LineState.NEW
    page.goto(f"/bank/reconcile/{line.pk}/")
    picker = page.locator("#choose-customer input[name=customer]")
    picker.press_sequentially("gamma net", delay=30)
    # The one customer picker fills its datalist as you type: by name, the code as the value.
    expect(page.locator("#id_customer-options option[value='GAMMA-SG']")).to_have_count(1)
    expect(page.locator("#id_customer-options option[value='GAMUT']")).to_have_count(0)
    picker.fill("GAMMA-SG")
    page.click("#choose-customer-submit")
    edit = page.locator("#edit-allocation")
    expect(edit).to_contain_text("Edit the allocation for Gamma Networks Pte Ltd")
    expect(edit.locator(f"#pick-{invoice.pk}")).to_be_checked()
    page.click("#confirm-edited")
    expect(page.locator("#line-state")).to_have_text("Reconciled")
    expect(page.locator("#line-payment")).to_contain_text("Gamma Networks Pte Ltd")
    invoice.refresh_from_db()
    assert invoice.amount_paid == 75
    assert page.console_errors == []
