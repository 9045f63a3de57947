"""`manage.py renew_subscriptions --date 2026-10-01`: renew the subscriptions due on or before a date, in
this process (beat runs the same daily through invoices.tasks.renew_subscriptions). Idempotent."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor
from invoices.services.common import local_date
from invoices.services.renewals import renew_due_subscriptions


class Command(BaseCommand):
    help = "Renew the subscriptions due on or before a date (default: today): charge, and invoice `individual` customers."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today in the operator's time zone).")
        parser.add_argument("--email-now", action="store_true",
                            help="Send the invoice emails from this process instead of queueing them for a worker.")
        parser.add_argument("--no-email", action="store_true",
                            help="Issue the invoices without emailing them (as 'Mark as sent').")

    def handle(self, *args, date=None, email_now=False, no_email=False, **options):
        try:
            day = dt.date.fromisoformat(date) if date else local_date(timezone.now())
        except ValueError:
            raise CommandError(f"The date must be YYYY-MM-DD, such as 2026-10-01 (got {date!r}).")
        result = renew_due_subscriptions(on_date=day, actor=Actor.system("renew_subscriptions command"),
                                         via_celery=not email_now, send_email=not no_email)
        self.stdout.write(result.summary())
        if result.failed:
            raise CommandError(f"{len(result.failed)} subscriptions could not be renewed (see above).")
