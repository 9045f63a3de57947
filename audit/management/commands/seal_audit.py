"""`manage.py seal_audit`: seal every committed audit event now (what the beat task does every 30 s)."""

from django.core.management.base import BaseCommand

from audit.sealing import seal_all


class Command(BaseCommand):
    help = "Seal the committed audit events into their chains now and anchor the heads that moved."

    def handle(self, *args, **options):
        self.stdout.write(f"Sealed {seal_all():,} audit event(s).")
