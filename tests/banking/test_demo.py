"""The banking demo: a bank account and last month's statement, imported through the services, idempotent."""

import io

import pytest

from banking import demo
from banking.models import BankAccount, Statement, StatementLine
from customers import demo as customers_demo
from finance import demo as finance_demo
from invoices import demo as invoices_demo

pytestmark = pytest.mark.django_db


def test_seeds_an_account_and_its_statement_once(tmp_path):
    customers_demo.seed(stdout=io.StringIO())
    invoices_demo.seed(stdout=io.StringIO())
    finance_demo.seed(stdout=io.StringIO())
    first = demo.seed(stdout=io.StringIO(), folder=tmp_path)
    assert first.startswith("bank account, statement of ")
    assert demo.seed(stdout=io.StringIO(), folder=tmp_path) == "nothing new"
    account = BankAccount.objects.get(code=demo.CODE)
    assert Statement.objects.filter(account=account).count() == 1
    lines = StatementLine.objects.filter(account=account)
    assert lines.filter(amount__lt=0).count() == 1 and lines.filter(remittance_text__contains="INV-").exists()
    # The file is there to try the upload page with: importing it again adds nothing.
    assert (tmp_path / "demo-statement.xml").read_bytes().startswith(b"<?xml")
