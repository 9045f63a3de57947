"""`manage.py check_finance`: recompute the finance caches (payment allocated / topped-up totals, invoice paid /
credited amounts, provisioning flags, top-up ledger pairs) from their rows and report each mismatch (exit 1
if any). Complements check_ledger, which checks the customer figures."""

from django.core.management.base import BaseCommand, CommandError

from ...checks import finance_mismatches


class Command(BaseCommand):
    help = "Recompute the finance totals from their rows and report each mismatch (exit 1 if any)."

    def handle(self, *args, **options):
        found = finance_mismatches()
        for line in found:
            self.stdout.write(f"MISMATCH {line}")
        if found:
            raise CommandError(f"{len(found)} finance mismatch(es) found.")
        self.stdout.write(self.style.SUCCESS("Finance consistent: every cached total equals its rows."))
