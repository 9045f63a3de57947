"""`manage.py verify_audit`: walks every audit chain; prints OK with the count, or names the first broken
event and why (exit 1)."""

from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains; exit 1 and name the first broken event if it is broken."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="Events read per query.")

    def handle(self, *args, chunk_size: int, **options):
        report = verify_chain(chunk_size=max(1, chunk_size))
        if not report.ok:
            where = f"first broken event: #{report.broken_id}. " if report.broken_id is not None else ""
            raise CommandError(
                f"Audit chain BROKEN: {where}{report.problem}. ({report.count} event(s) verified before it.)",
                returncode=1,
            )
        if report.count:
            self.stdout.write(f"Audit chain OK: {report.count} events in {report.chains} chain(s), newest "
                              f"#{report.last_id}: hashes and links "
                              "verified, and each chain ends at its head.")
        else:
            self.stdout.write("Audit chain OK: no events yet.")
