"""`manage.py auto_top_up [--date YYYY-MM-DD] [--email-now] [--workers]`: run the daily auto top-up now, for
operators and tests, with a progress bar.

The same service as the beat task; safe to run again the same day (each customer is topped up at most
once a day). Without --date the day is today in the operator's timezone (settings.TIME_ZONE). By default the
chunks are handled in this process, one after the other; --workers hands them to the Celery workers (as the
beat task does) and follows the run's progress until it finishes."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor

from ...auto_top_up.selectors import RunProgress, run_progress
from ...models import AutoTopUpRun, AutoTopUpTrigger
from ...services.auto_top_up import JOB_LABEL, auto_top_up_run_begin, run_daily_auto_top_up

BAR_WIDTH = 30


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be a date as YYYY-MM-DD, not {value!r}.")


def progress_line(p: RunProgress) -> str:
    filled = BAR_WIDTH * p.percent // 100
    line = (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {p.percent:3d}% {p.done:,}/{p.to_do:,} customers, "
            f"{p.fired:,} topped up, {p.failed:,} failed")
    if p.retrying:
        line += f", {p.retrying:,} waiting to retry"
    return line


class Command(BaseCommand):
    help = "Run the daily auto top-up for a day (default: today in the operator's timezone)."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="run_date", help="The run date, YYYY-MM-DD (default: today).")
        parser.add_argument("--email-now", action="store_true",
                            help="Send the notices and invoice emails from this process after each chunk, "
                                 "instead of queueing them for the Celery workers.")
        parser.add_argument("--workers", action="store_true",
                            help="Hand the chunks to the Celery workers and follow the run until it finishes.")
        parser.add_argument("--timeout", type=int, default=3600,
                            help="With --workers: stop following after this many seconds (the run goes on).")

    def _bar(self, p: RunProgress) -> None:
        self.stdout.write(progress_line(p))
        self.stdout.flush()

    def handle(self, *args, run_date: str | None = None, email_now: bool = False, workers: bool = False,
               timeout: int = 3600, **options):
        day = _date(run_date) if run_date else timezone.localdate()
        actor = Actor.system(JOB_LABEL)
        if workers:
            if email_now:
                raise CommandError("--email-now sends from this process; with --workers the workers send.")
            run = self._on_workers(day, actor, timeout)
        else:
            run = run_daily_auto_top_up(run_date=day, actor=actor, trigger=AutoTopUpTrigger.COMMAND,
                                        email_via_celery=not email_now, progress=self._bar)
        if run.finished_at is None:
            raise CommandError(f"Run #{run.pk} has not finished yet; its progress is on the auto top-up runs page.")
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"Auto top-up {day.isoformat()} (run #{run.pk}, {seconds:.1f}s): {run.customers_count} customers with "
            f"auto top-up on; {run.fired_count} topped up, {run.failed_count} failed, {run.skipped_count} skipped.")

    def _on_workers(self, day: dt.date, actor: Actor, timeout: int) -> AutoTopUpRun:
        from ...tasks import auto_top_up_chunk

        started = auto_top_up_run_begin(run_date=day, actor=actor, trigger=AutoTopUpTrigger.COMMAND)
        for chunk_id in started.chunk_ids:
            auto_top_up_chunk.delay(chunk_id)
        deadline = time.monotonic() + timeout
        shown = None
        while True:
            p = run_progress(started.run.pk)
            if (p.done, p.retrying, p.finished) != shown:
                self._bar(p)
                shown = (p.done, p.retrying, p.finished)
            if p.finished or time.monotonic() > deadline:
                return p.run
            time.sleep(1)
