"""`manage.py billing_run --period 2026-10`: the monthly billing run for one month, as a BillingRun (staff see it
on the billing runs page), with a progress bar. Its chunks are billed in this process, or with --on-workers
handed to the Celery workers while this command follows the run. Idempotent: a second run of the same month
issues nothing new. New invoices are paid with the payments' unallocated cash (finance.services.billing.PAYMENT_CASH:
the command is finance's for that reason, as the run's tasks are)."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor
from customers.models import Customer
from finance.services.billing import PAYMENT_CASH
from finance.tasks import BILLING_ACTOR, bill_billing_chunk
from invoices.models import BillingRunTrigger
from invoices.services.billing import BillingError, parse_period, previous_period
from invoices.services.billing_run import billing_run_start, run_chunk, run_progress

BAR = 30


def bar(progress: dict) -> str:
    """[##########--------------------]  1,234 / 3,700 customers (33%), 800 invoices issued, 2 failed"""
    filled = BAR * progress["percent"] // 100
    return (f"[{'#' * filled}{'-' * (BAR - filled)}] {progress['customers_done']:,} / {progress['customers_total']:,} "
            f"customers ({progress['percent']}%), {progress['invoices_issued']:,} invoices issued, "
            f"{progress['failed']:,} failed")


class Command(BaseCommand):
    help = "Bill the unbilled transactions of a month into monthly invoices (default: last month)."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="The month to bill, YYYY-MM (default: the previous month).")
        parser.add_argument("--customer", action="append", default=[], metavar="CODE",
                            help="Bill only this customer (by code); may be given more than once.")
        parser.add_argument("--email-now", action="store_true",
                            help="Send the invoice emails from this process instead of queueing them for a worker.")
        parser.add_argument("--no-email", action="store_true",
                            help="Issue the invoices without emailing them (as 'Mark as sent').")
        parser.add_argument("--on-workers", action="store_true",
                            help="Hand the chunks to the Celery workers and follow the run here.")

    def handle(self, *args, period=None, customer=(), email_now=False, no_email=False, on_workers=False, **options):
        try:
            month = parse_period(period) if period else previous_period(timezone.now())
        except BillingError as exc:
            raise CommandError(str(exc))
        ids = None
        if customer:
            found = dict(Customer.objects.filter(code__in=customer).values_list("code", "pk"))
            missing = sorted(set(customer) - set(found))
            if missing:
                raise CommandError(f"No customer with code {', '.join(missing)}.")
            ids = list(found.values())
        actor = Actor.system("billing_run command")
        try:
            run = billing_run_start(period=month, trigger=BillingRunTrigger.COMMAND, actor=actor, customer_ids=ids)
        except BillingError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"Billing run #{run.pk} for {month:%Y-%m}: {run.customers_total:,} customers in "
                          f"{run.chunks_total:,} chunks")
        chunks = list(run.chunks.order_by("seq").values_list("pk", flat=True))
        if on_workers:
            for pk in chunks:
                bill_billing_chunk.delay(pk)
            while True:
                run.refresh_from_db()
                self.stdout.write(bar(run_progress(run)))
                if run.finished_at is not None:
                    break
                time.sleep(2)
        else:
            cash = PAYMENT_CASH
            worker = Actor.system(BILLING_ACTOR)
            for pk in chunks:
                run_chunk(pk, actor=worker, cash_source=cash, send_email=not no_email, via_celery=not email_now)
                self.stdout.write(bar(run_progress(run)))
        run.refresh_from_db()
        progress = run_progress(run)
        self.stdout.write(f"{month:%Y-%m}: {progress['customers_total']} customers, {progress['invoices_issued']} "
                          f"invoices issued, {progress['nothing_to_bill']} with nothing to bill, "
                          f"{progress['failed']} failed")
        failures = list(run.failures.filter(resolved_at__isnull=True).order_by("customer_id"))
        for failure in failures:
            self.stdout.write(f"  customer #{failure.customer_id}: {failure.error}")
        if failures:
            raise CommandError(f"{len(failures)} customers could not be billed (see above; retried with back-off "
                               "by the workers, shown on the billing run's page).")
