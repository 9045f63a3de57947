"""`manage.py verify_audit`: walks every audit chain and checks the anchored heads; prints OK with the count and
how old the oldest unsealed event is, or names the first broken event and why (exit 1). Exits 1 too when an
event has stayed unsealed longer than AUDIT_UNSEALED_MAX_AGE_SECONDS (the seal task is not running)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chains against their heads and the anchor file; exit 1 and name the "
        "first broken event if it is broken, or if an event has stayed unsealed too long."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="Events read per query.")
        parser.add_argument(
            "--anchor-file",
            default=None,
            help="The chain heads anchored outside the database (default: AUDIT_ANCHOR_FILE).",
        )
        parser.add_argument(
            "--max-unsealed-age",
            type=int,
            default=None,
            help="Seconds an event may stay unsealed (default: AUDIT_UNSEALED_MAX_AGE_SECONDS).",
        )

    def handle(
        self, *args, chunk_size: int, anchor_file: str | None, max_unsealed_age: int | None, **options
    ):
        anchor_file = anchor_file if anchor_file is not None else settings.AUDIT_ANCHOR_FILE
        max_age = (
            max_unsealed_age if max_unsealed_age is not None else settings.AUDIT_UNSEALED_MAX_AGE_SECONDS
        )
        report = verify_chain(chunk_size=max(1, chunk_size), anchor_file=anchor_file or None)
        if not report.ok:
            where = f"first broken event: #{report.broken_id}. " if report.broken_id is not None else ""
            raise CommandError(
                f"Audit chain BROKEN: {where}{report.problem}. ({report.count} event(s) verified before it.)",
                returncode=1,
            )
        anchored = (
            f"; {report.anchored} chain head(s) match the anchor file"
            if report.anchored
            else f"; {report.anchor_note}"
        )
        if report.count:
            self.stdout.write(
                f"Audit chain OK: {report.count} events in {report.chains} chain(s), newest "
                f"#{report.last_id}: hashes and links verified, and each chain ends at its head"
                f"{anchored}."
            )
        else:
            self.stdout.write(f"Audit chain OK: no sealed events yet{anchored}.")
        if report.unsealed:
            age = report.oldest_unsealed_age or 0.0
            line = (
                f"{report.unsealed} event(s) not sealed yet; the oldest, #{report.oldest_unsealed_id}, was written "
                f"{age:.0f} s ago"
            )
            if age > max_age:
                raise CommandError(
                    f"Audit trail NOT SEALED: {line}, more than the {max_age} s allowed: is the seal "
                    "task (Celery beat, audit.tasks.seal_audit_trail) running?",
                    returncode=1,
                )
            self.stdout.write(f"{line} (sealed every 30 s; allowed {max_age} s).")
        else:
            self.stdout.write("Every event is sealed.")
