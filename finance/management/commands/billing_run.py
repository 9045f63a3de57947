"""`manage.py billing_run --period 2026-10`: the monthly billing run for one month, in this process (beat
runs the same through finance.tasks.monthly_billing_run on the workers). Idempotent: a second run of the
same month issues nothing new. The run is invoices'; the command is finance's because the run pays the new
invoices with the payments' unallocated cash (services.billing.PAYMENT_CASH), which invoices cannot see."""

from django.core.management.base import BaseCommand, CommandError

from audit.actors import Actor
from customers.models import Customer
from invoices.services.billing import BillingError, monthly_billing_run, parse_period, previous_period

from ...services.billing import PAYMENT_CASH


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

    def handle(self, *args, period=None, customer=(), email_now=False, no_email=False, **options):
        from django.utils import timezone

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
        try:
            result = monthly_billing_run(period=month, customer_ids=ids, actor=Actor.system("billing_run command"),
                                         cash_source=PAYMENT_CASH, via_celery=not email_now,
                                         send_email=not no_email)
        except BillingError as exc:
            raise CommandError(str(exc))
        self.stdout.write(result.summary())
        if result.failed:
            raise CommandError(f"{len(result.failed)} customers could not be billed (see above).")
