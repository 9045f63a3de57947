"""`manage.py check_ledger`: recompute every customer's figures from the rows and compare them with the
running totals on the account rows (and the master wallets, transfers and commits:
customers.selectors.ledger_mismatches), and check that no customer's invoices were applied more money than
came in, nor payment cash shown unallocated that an invoice already used (finance.checks
.money_in_mismatches, in the words check_finance uses). Prints each mismatch; exits 1 if there is any.

The command is finance's, not customers', because it reads both apps' rows and only finance may import
both; check_finance checks finance's own cached totals."""

import time

from django.core.management.base import BaseCommand, CommandError

from customers.selectors import ledger_mismatches
from invoices.selectors import unbilled_closed_months

from ...checks import money_in_mismatches


class Command(BaseCommand):
    help = "Recompute every customer's figures from the ledger rows and report each mismatch (exit 1 if any)."

    def handle(self, *args, **options):
        started = time.monotonic()
        mismatches = [*ledger_mismatches(), *money_in_mismatches()]
        for mismatch in mismatches:
            self.stdout.write(f"MISMATCH {mismatch}")
        missed = unbilled_closed_months()  # the monthly billing run's safety net (issue 24)
        for month in missed:
            self.stdout.write(f"NOT BILLED {month}")
        mismatches += missed
        took = time.monotonic() - started
        if mismatches:
            raise CommandError(f"{len(mismatches)} mismatch(es) found in {took:.1f}s.")
        self.stdout.write(self.style.SUCCESS(f"Ledger consistent: every running total equals its rows ({took:.1f}s)."))
