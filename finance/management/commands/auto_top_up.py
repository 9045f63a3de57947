"""`manage.py auto_top_up [--date YYYY-MM-DD]`: run the daily auto top-up now, for operators and tests.

The same service as the beat task; safe to run again the same day (each customer is topped up at most
once a day). Without --date the day is today in the operator's timezone (settings.TIME_ZONE)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor

from ...models import AutoTopUpTrigger
from ...services.auto_top_up import JOB_LABEL, run_daily_auto_top_up


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be a date as YYYY-MM-DD, not {value!r}.")


class Command(BaseCommand):
    help = "Run the daily auto top-up for a day (default: today in the operator's timezone)."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="run_date", help="The run date, YYYY-MM-DD (default: today).")
        parser.add_argument("--email-now", action="store_true",
                            help="Send the notices and invoice emails from this process after each top-up, "
                                 "instead of queueing them for the Celery workers.")
        parser.add_argument("--threads", type=int, default=1,
                            help="Handle the candidates in this many threads (default 1).")

    def handle(self, *args, run_date: str | None = None, email_now: bool = False, threads: int = 1, **options):
        day = _date(run_date) if run_date else timezone.localdate()
        if not 1 <= threads <= 32:
            raise CommandError("--threads must be between 1 and 32.")
        run = run_daily_auto_top_up(run_date=day, actor=Actor.system(JOB_LABEL), trigger=AutoTopUpTrigger.COMMAND,
                                    email_via_celery=not email_now, threads=threads)
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"Auto top-up {day.isoformat()} (run #{run.pk}, {seconds:.1f}s): {run.customers_count} customers with "
            f"auto top-up on; {run.fired_count} topped up, {run.failed_count} failed, {run.skipped_count} skipped.")
