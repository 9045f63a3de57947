"""Two staff confirming one statement line at once make one payment (threads against PostgreSQL)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from banking.models import LineState, StatementLine
from banking.services.imports import statement_import
from banking.services.reconcile import ReconcileError, statement_line_confirm, statement_line_undo
from finance.checks import finance_mismatches
from finance.models import Payment
from tests.banking.factories import bank_account, camt053
from tests.customers.factories import SYSTEM
from tests.finance.factories import customer, purchase_invoice
from tests.threads import run_calls

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_confirmations_of_one_line_make_one_payment():
    acme = customer()
    invoice = purchase_invoice(acme, "100")
    account = bank_account()
    statement = statement_import(account_id=account.pk, file_name="s.xml", actor=SYSTEM, at=timezone.now(),
                                 content=camt053([{"amount": "100.00", "text": invoice.number,
                                                   "date": timezone.localdate().isoformat()}]))
    line = statement.lines.get()

    def confirm():
        return statement_line_confirm(line_id=line.pk, suggestion_id=suggestion.pk, actor=SYSTEM, at=timezone.now())

    for _ in range(3):  # four at once, undo (the line's suggestions are made anew), and again
        suggestion = line.suggestions.get(rank=1)
        results = run_calls([confirm, confirm, confirm, confirm])
        done = [r for r in results if isinstance(r, StatementLine)]
        refused = [r for r in results if isinstance(r, ReconcileError)]
        assert len(done) == 1 and len(refused) == 3, results
        assert all("reconciled already" in str(r) for r in refused)
        assert Payment.objects.filter(deleted_at__isnull=True).count() == 1
        statement_line_undo(line_id=line.pk, reason="again", actor=SYSTEM, at=timezone.now())
    assert StatementLine.objects.get(pk=line.pk).state == LineState.SUGGESTED
    assert AuditEvent.objects.filter(action="banking.line.confirm").count() == 3
    assert finance_mismatches() == []
