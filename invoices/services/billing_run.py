"""The monthly billing run over many workers (issue 24): a run (BillingRun) splits its customers into chunks
(BillingRunChunk) that Celery workers claim and bill; customers that fail are recorded on the run
(BillingRunFailure) and retried with back-off.

A chunk is billed in ONE transaction (bill_chunk), as bill_customer_period bills one customer, with the
per-customer statements batched across the chunk:
1. in parallel with other chunks: lock the chunk's customers (one statement, in id order), read their
   billable entries and reversals (one query each), work out every invoice (lines, credit), insert every
   invoice without a number (one multi-row INSERT), every line and line-entry link (one each), apply credit
   and allocate payment cash (per customer that has any);
2. one chunk at a time, as the last writes before COMMIT: number the chunk's invoices in id order with one
   set-based statement (numbering.number_invoices: gapless and unique, the series row locked to COMMIT so a
   rollback gives the numbers back), mark every billed entry and post every invoice total with its number
   (ledger.bill_many: three statements), one notification INSERT, one audit event per invoice; the emails
   are one Celery task per chunk after COMMIT.
So the part that runs one chunk at a time costs a few statements per chunk (measured in bench/README.md),
not a transaction per invoice. A worker killed in the middle rolls the whole chunk back: every customer of it
is billed once or not at all, and the chunk is claimed again (stale claim) or its customers are candidates of
the next run. A chunk that fails as a whole (one customer's row refusing) is billed again one customer at a
time (bill_customer_period), so one bad customer fails alone and is recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.locks import lock_customers
from customers.models import (
    Bucket,
    Customer,
    InvoiceSetup,
    Notification,
    NotificationKind,
    TransactionKind,
)
from customers.money import ZERO

from .. import settlement
from ..models import (
    BillingRun,
    BillingRunChunk,
    BillingRunFailure,
    ChunkStatus,
    CreditApplication,
    CreditSource,
    Invoice,
    InvoiceLine,
    InvoiceLineEntry,
    InvoiceStatus,
    InvoiceType,
)
from ..numbering import number_invoices
from ..selectors import billable_entries, billing_candidates, unapplied_due_credit_of
from .billing import (
    CashSource,
    CreditPlan,
    _figures,
    bill_customer_period,
    ended_period,
    monthly_lines,
    period_key,
    plan_credit,
)
from .common import (
    INVOICE_SERIES,
    default_billing_to,
    email_subject,
    local_date,
    payment_terms_days,
    snapshot,
    tax_rate,
    totals_of,
)

log = logging.getLogger(__name__)

CHUNK_SIZE = 250
NUMBER_MARK = "\x00number\x00"
# A chunk claimed longer ago than this with no result: its worker died (or was killed); it may be claimed again.
STALE_AFTER = dt.timedelta(minutes=10)
# Retries of a failed customer: after 5, 20, 80 minutes, then 5 h 20 min; then staff see it as given up.
RETRY_BASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5

BOOKKEEPING = "the run's own bookkeeping (claims, counts, failures): no money moves; the invoices it issues each record their event"
AUDIT_EXEMPT = {
    "bill_chunk": "a batch: one audit event per invoice it issues (invoices.invoice.bill_monthly, as "
    "bill_customer_period), none of its own",
    "claim_chunk": BOOKKEEPING,
    "run_chunk": BOOKKEEPING,
    "retry_failures": BOOKKEEPING,
    "run_progress": "a read: the run's counts summed over its chunks",
}


@dataclass
class ChunkResult:
    invoiced: list[int] = field(default_factory=list)
    nothing_to_bill: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    serial_seconds: float = 0.0  # holding the series row: the numbering statement's answer to COMMIT
    wait_seconds: float = 0.0  # waiting for the series row (another chunk's tail)
    _held_from: float | None = None


@dataclass
class _Bill:
    """One customer's monthly invoice as the chunk works it out, before any write."""

    customer: Customer
    specs: list
    entry_ids: list[int]
    plan: CreditPlan
    before: dict
    invoice: Invoice | None = None
    paid_by_payments: list = field(default_factory=list)


def bill_chunk(
    *,
    period: str | dt.date,
    customer_ids: Iterable[int],
    actor: Actor,
    cash_source: CashSource | None,
    at: dt.datetime | None = None,
    send_email: bool = True,
    via_celery: bool = True,
) -> ChunkResult:
    """Bill the customers' month in one transaction (see the module docstring); customers already billed for
    the period, never invoiced or with nothing to bill count as nothing to bill. If the batch fails, each
    customer is billed on its own (bill_customer_period) and the ones that fail again are returned."""
    at = at or timezone.now()
    period = ended_period(period, at)
    ids = sorted(set(customer_ids))
    try:
        result = _bill_batch(
            period, ids, actor=actor, cash_source=cash_source, at=at, send_email=send_email, via_celery=via_celery
        )
        if result._held_from is not None:  # COMMIT is done: the serial tail is over
            result.serial_seconds = time.perf_counter() - result._held_from
        return result
    except Exception:
        log.exception(
            "Billing chunk of %s customers for %s failed as a whole; billing them one by one",
            len(ids),
            period,
        )
    result = ChunkResult()
    for customer_id in ids:
        try:
            invoice = bill_customer_period(
                customer_id=customer_id,
                period=period,
                actor=actor,
                cash_source=cash_source,
                at=at,
                send_email=send_email,
                via_celery=via_celery,
            )
        except Exception as exc:  # one customer's failure is recorded, never stops the others
            log.warning("Billing customer #%s for %s failed: %s", customer_id, period, exc)
            result.failed.append((customer_id, str(exc) or type(exc).__name__))
            continue
        if invoice is None:
            result.nothing_to_bill += 1
        else:
            result.invoiced.append(invoice.pk)
    return result


@transaction.atomic
def _bill_batch(
    period: dt.date,
    ids: list[int],
    *,
    actor: Actor,
    cash_source: CashSource | None,
    at: dt.datetime,
    send_email: bool,
    via_celery: bool,
) -> ChunkResult:
    result = ChunkResult()
    customers = lock_customers(ids)
    keys = {cid: period_key(cid, period) for cid in ids}
    done = set(
        Invoice.objects.filter(source_key__in=list(keys.values())).values_list("customer_id", flat=True)
    )
    todo = [
        customers[cid]
        for cid in ids
        if cid in customers and cid not in done and customers[cid].invoice_setup != InvoiceSetup.NONE
    ]
    missing = [cid for cid in ids if cid not in customers]
    result.failed += [(cid, f"There is no customer #{cid}.") for cid in missing]
    entries, reversals = billable_entries(todo, period)
    rate = tax_rate()
    unapplied = unapplied_due_credit_of([c for c in todo if c.pk in entries])
    bills: list[_Bill] = []
    for customer in todo:
        rows = entries.get(customer.pk)
        if not rows:
            continue
        revs = reversals.get(customer.pk, [])
        specs = monthly_lines(rows, period, rate, revs)
        billed = sum((e[2] for e in rows), ZERO) + sum((r[2] for r in revs), ZERO)
        plan = plan_credit(
            customer,
            total=totals_of(specs).total,
            billed=billed,
            cash=cash_source.available if cash_source is not None else None,
            unapplied=unapplied[customer.pk],
        )
        bills.append(
            _Bill(
                customer=customer,
                specs=specs,
                entry_ids=[e[0] for e in rows] + [r[0] for r in revs],
                plan=plan,
                before=_figures(customer),
            )
        )
    result.nothing_to_bill = len(ids) - len(missing) - len(bills)
    if not bills:
        return result

    issue_date = local_date(at)
    due_date = issue_date + dt.timedelta(days=payment_terms_days())
    invoices = []
    for bill in bills:
        totals = totals_of(bill.specs)
        # Credit applied as the invoice is inserted (settlement.apply's rule, without an UPDATE of a row this
        # transaction just wrote); a month whose charges were all reversed is settled.
        paid = bill.plan.credit if totals.total else ZERO
        status = settlement.status_for(totals.total, paid, ZERO)
        what = "usage" if bill.customer.invoice_setup == InvoiceSetup.INDIVIDUAL else "consolidated"
        invoices.append(
            Invoice(
                number=None,
                customer=bill.customer,
                type=InvoiceType.MONTHLY,
                status=status,
                name=f"{period:%B %Y} {what} invoice",
                billing_to=default_billing_to(bill.customer),
                currency=bill.customer.currency,
                issue_date=issue_date,
                due_date=due_date,
                period_start=period,
                subtotal=totals.subtotal,
                tax=totals.tax,
                total=totals.total,
                source_key=keys[bill.customer.pk],
                sent_at=at,
                paid_at=at if status == InvoiceStatus.PAID else None,
                amount_paid=paid,
            )
        )
    Invoice.objects.bulk_create(invoices)
    lines, specs_of = [], []
    for bill, invoice in zip(bills, invoices, strict=True):
        bill.invoice = invoice
        for i, s in enumerate(bill.specs, start=1):
            lines.append(
                InvoiceLine(
                    invoice=invoice,
                    position=i,
                    description=s.description[:255],
                    quantity=s.quantity,
                    unit_price=s.unit_price,
                    tax_rate=s.tax_rate,
                    amount=s.amount,
                    tax_amount=s.tax_amount,
                    kind=s.kind,
                    transaction_id=s.transaction_id,
                )
            )
            specs_of.append(s)
    InvoiceLine.objects.bulk_create(lines, batch_size=5000)
    InvoiceLineEntry.objects.bulk_create(
        [
            InvoiceLineEntry(line=row, transaction_id=tid)
            for row, s in zip(lines, specs_of, strict=True)
            for tid in s.entry_ids
        ],
        batch_size=10000,
    )
    applications = []
    for bill in bills:
        invoice, plan = bill.invoice, bill.plan
        if not invoice.total:
            continue
        if plan.credit:
            if plan.from_due:
                applications.append(
                    CreditApplication(
                        invoice=invoice,
                        customer=bill.customer,
                        amount=plan.from_due,
                        source=CreditSource.AMOUNT_DUE,
                        created_at=at,
                    )
                )
        if plan.from_payments:
            bill.paid_by_payments = cash_source.allocate(
                bill.customer, invoice, plan.from_payments, actor=actor, at=at
            )

    # The email subject, rendered once before the numbering (it names the number: a mark replaced below).
    subject = email_subject(SimpleNamespace(number=NUMBER_MARK))

    # --- one chunk at a time from here to COMMIT: the series row is locked by the numbering statement -------
    waiting = time.perf_counter()
    numbers = number_invoices(INVOICE_SERIES, issue_date.year, [inv.pk for inv in invoices])
    result._held_from = time.perf_counter()
    result.wait_seconds = result._held_from - waiting
    items = []
    for bill in bills:
        invoice = bill.invoice
        invoice.number = numbers[invoice.pk]
        common = {"reference": invoice.number, "source_type": "invoices.invoice", "source_id": invoice.pk}
        posts = []
        if invoice.total:
            posts.append(
                ledger.Entry(
                    kind=TransactionKind.INVOICE,
                    amount=-invoice.total,
                    bucket=Bucket.DUE,
                    description=f"Monthly invoice {invoice.number}",
                    idempotency_key=f"invoice:{invoice.pk}:issue",
                    **common,
                )
            )
            if bill.plan.from_unbilled:
                credit = {
                    "kind": TransactionKind.CREDIT_APPLIED,
                    "description": f"Credit applied to invoice {invoice.number}",
                    **common,
                }
                posts += [
                    ledger.Entry(
                        amount=-bill.plan.from_unbilled,
                        bucket=Bucket.UNBILLED,
                        idempotency_key=f"invoice:{invoice.pk}:credit:unbilled",
                        **credit,
                    ),
                    ledger.Entry(
                        amount=bill.plan.from_unbilled,
                        bucket=Bucket.DUE,
                        idempotency_key=f"invoice:{invoice.pk}:credit:due",
                        **credit,
                    ),
                ]
        items.append(
            ledger.Billing(
                customer=bill.customer,
                document=invoice.number,
                billed_ids=tuple(bill.entry_ids),
                entries=tuple(posts),
            )
        )
    posted = ledger.bill_many(items, at=at)
    for bill in bills:
        if bill.invoice.total and bill.plan.from_unbilled:
            applications.append(
                CreditApplication(
                    invoice=bill.invoice,
                    customer=bill.customer,
                    source=CreditSource.UNBILLED,
                    amount=bill.plan.from_unbilled,
                    transaction=posted[bill.customer.pk][1],
                    created_at=at,
                )
            )
    CreditApplication.objects.bulk_create(applications)
    notes = {}
    if send_email:
        notes = {
            n.source_id: n
            for n in Notification.objects.bulk_create(
                [
                    Notification(
                        customer=b.customer,
                        kind=NotificationKind.INVOICE,
                        channel="email",
                        recipient=b.customer.billing_email,
                        subject=subject.replace(NUMBER_MARK, b.invoice.number)[:200],
                        status="queued",
                        source_type="invoices.invoice",
                        source_id=b.invoice.pk,
                        sent_at=at,
                    )
                    for b in bills
                    if b.customer.billing_email
                ]
            )
        }
        note_ids = [n.pk for n in notes.values()]
        if note_ids and via_celery:
            from ..tasks import email_invoices

            transaction.on_commit(lambda: email_invoices.delay(note_ids), robust=True)
        elif note_ids:
            from .delivery import invoice_email_deliver

            transaction.on_commit(
                lambda: [invoice_email_deliver(notification_id=pk, actor=actor) for pk in note_ids],
                robust=True,
            )
    for bill in bills:
        invoice, plan, note = bill.invoice, bill.plan, notes.get(bill.invoice.pk)
        audit_record(
            actor=actor,
            action="invoices.invoice.bill_monthly",
            app="invoices",
            obj=invoice,
            customer_id=bill.customer.pk,
            at=at,
            before=bill.before,
            after={
                **snapshot(invoice),
                **_figures(bill.customer),
                "period": f"{period:%Y-%m}",
                "entries_billed": len(bill.entry_ids),
                "subtotal": invoice.subtotal,
                "tax": invoice.tax,
                "credit_applied": {
                    k: v for k, v in (("amount_due", plan.from_due), ("unbilled", plan.from_unbilled)) if v
                },
                "paid_by_payments": bill.paid_by_payments,
                "notification": note.pk if note else None,
            },
        )
        result.invoiced.append(invoice.pk)
    return result


# --- the run: chunks claimed by workers, failures retried ------------------------------------------------
@transaction.atomic
def billing_run_start(
    *,
    period: str | dt.date,
    trigger: str,
    actor: Actor,
    at: dt.datetime | None = None,
    customer_ids: Iterable[int] | None = None,
    chunk_size: int | None = None,
) -> BillingRun:
    """Start a run for the period: its candidates (selectors.billing_candidates, one query: customers with
    unbilled charges of the month and no monthly invoice for it, so a run on day 2 or 3 finds only what
    day 1 missed) in chunks of `chunk_size` (CHUNK_SIZE), to be claimed by workers
    (finance.tasks.bill_billing_chunk).
    One audit event."""
    at = at or timezone.now()
    period = ended_period(period, at)
    ids = sorted(set(customer_ids)) if customer_ids is not None else billing_candidates(period)
    chunk_size = chunk_size or CHUNK_SIZE
    run = BillingRun.objects.create(
        period=period,
        trigger=trigger,
        started_by=actor.label[:120],
        started_at=at,
        customers_total=len(ids),
        chunks_total=-(-len(ids) // chunk_size),
    )
    BillingRunChunk.objects.bulk_create(
        [
            BillingRunChunk(run=run, seq=n, customer_ids=ids[i : i + chunk_size])
            for n, i in enumerate(range(0, len(ids), chunk_size), start=1)
        ]
    )
    if not ids:
        BillingRun.objects.filter(pk=run.pk).update(finished_at=at)
        run.finished_at = at
    audit_record(
        actor=actor,
        action="invoices.billing_run.start",
        app="invoices",
        obj=run,
        at=at,
        after={
            "period": f"{period:%Y-%m}",
            "trigger": trigger,
            "customers": len(ids),
            "chunks": run.chunks_total,
        },
    )
    return run


def claim_chunk(chunk_id: int, *, at: dt.datetime | None = None) -> BillingRunChunk | None:
    """Take the chunk for this worker: SELECT ... FOR UPDATE SKIP LOCKED, so two workers given the same chunk
    (a redelivered message) never both take it; a chunk already done, or running under a fresh claim, is
    not taken (None). A claim older than STALE_AFTER is taken over: its worker died in the middle, and its
    transaction was rolled back with it."""
    at = at or timezone.now()
    with transaction.atomic():
        chunk = (
            BillingRunChunk.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=ChunkStatus.PENDING)
                | Q(status=ChunkStatus.RUNNING, claimed_at__lt=at - STALE_AFTER),
                pk=chunk_id,
            )
            .first()
        )
        if chunk is None:
            return None
        BillingRunChunk.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.RUNNING, claimed_at=at, attempts=chunk.attempts + 1
        )
    chunk.refresh_from_db()
    return chunk


def _record_failures(run_id: int, failed: list[tuple[int, str]], at: dt.datetime) -> None:
    for customer_id, error in failed:
        failure, created = BillingRunFailure.objects.get_or_create(
            run_id=run_id,
            customer_id=customer_id,
            defaults={
                "error": error[:2000],
                "first_failed_at": at,
                "last_failed_at": at,
                "next_attempt_at": at + RETRY_BASE,
            },
        )
        if not created:
            attempts = failure.attempts + 1
            BillingRunFailure.objects.filter(pk=failure.pk).update(
                error=error[:2000],
                attempts=attempts,
                last_failed_at=at,
                next_attempt_at=at + RETRY_BASE * 4 ** (attempts - 1) if attempts < MAX_ATTEMPTS else None,
            )


def _finish_run_if_done(run_id: int, at: dt.datetime) -> None:
    BillingRun.objects.filter(pk=run_id, finished_at__isnull=True).exclude(
        chunks__status__in=[ChunkStatus.PENDING, ChunkStatus.RUNNING]
    ).update(finished_at=at)


def run_chunk(
    chunk_id: int, *, actor: Actor, cash_source: CashSource | None, send_email: bool = True, via_celery: bool = True
) -> dict:
    """Claim the chunk and bill it (bill_chunk); record its counts and its failures on the run. Returns what
    was done, or {"skipped": ...} when the chunk was not claimable (done, or another worker has it)."""
    chunk = claim_chunk(chunk_id)
    if chunk is None:
        return {"chunk": chunk_id, "skipped": "done or claimed by another worker"}
    run = chunk.run
    started = time.perf_counter()
    result = bill_chunk(
        period=run.period,
        customer_ids=chunk.customer_ids,
        actor=actor,
        cash_source=cash_source,
        at=timezone.now(),
        send_email=send_email,
        via_celery=via_celery,
    )
    at = timezone.now()
    with transaction.atomic():
        _record_failures(run.pk, result.failed, at)
        BillingRunFailure.objects.filter(
            run_id=run.pk, customer_id__in=chunk.customer_ids, resolved_at__isnull=True
        ).exclude(customer_id__in=[c for c, _ in result.failed]).update(resolved_at=at, next_attempt_at=None)
        BillingRunChunk.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.DONE,
            finished_at=at,
            invoiced=len(result.invoiced),
            nothing_to_bill=result.nothing_to_bill,
            failed=len(result.failed),
            seconds=time.perf_counter() - started,
            serial_seconds=result.serial_seconds,
            wait_seconds=result.wait_seconds,
        )
    _finish_run_if_done(run.pk, at)
    return {
        "chunk": chunk_id,
        "invoiced": len(result.invoiced),
        "nothing_to_bill": result.nothing_to_bill,
        "failed": len(result.failed),
    }


def retry_failures(*, actor: Actor, cash_source: CashSource | None, at: dt.datetime | None = None) -> dict:
    """Bill again the customers whose retry is due (back-off: RETRY_BASE x 4^(attempts-1), MAX_ATTEMPTS in
    all), each on its own; a success resolves the failure, a failure pushes the next attempt out."""
    at = at or timezone.now()
    due = list(
        BillingRunFailure.objects.filter(resolved_at__isnull=True, next_attempt_at__lte=at)
        .select_related("run")
        .order_by("next_attempt_at", "pk")[:500]
    )
    billed = failed = 0
    for failure in due:
        try:
            bill_customer_period(
                customer_id=failure.customer_id,
                period=failure.run.period,
                actor=actor,
                cash_source=cash_source,
                at=timezone.now(),
            )
        except Exception as exc:
            _record_failures(
                failure.run_id, [(failure.customer_id, str(exc) or type(exc).__name__)], timezone.now()
            )
            failed += 1
            continue
        BillingRunFailure.objects.filter(pk=failure.pk).update(
            resolved_at=timezone.now(), next_attempt_at=None
        )
        billed += 1
    return {"retried": len(due), "billed": billed, "failed": failed}


def stale_chunks(*, at: dt.datetime | None = None) -> list[int]:
    """Chunks to hand to a worker again: pending ones (a lost message) and running ones whose claim is stale
    (a worker killed in the middle), of runs not finished."""
    at = at or timezone.now()
    return list(
        BillingRunChunk.objects.filter(
            Q(status=ChunkStatus.PENDING, run__started_at__lt=at - STALE_AFTER)
            | Q(status=ChunkStatus.RUNNING, claimed_at__lt=at - STALE_AFTER),
            run__finished_at__isnull=True,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


AUDIT_EXEMPT["stale_chunks"] = "a read: the chunks to hand out again"


def run_progress(run: BillingRun) -> dict:
    """Customers done / to do, invoices issued, failures: summed over the run's chunks (one query) and its
    open failures (one more)."""
    sums = run.chunks.aggregate(
        done=Sum("invoiced", filter=Q(status=ChunkStatus.DONE)),
        nothing=Sum("nothing_to_bill", filter=Q(status=ChunkStatus.DONE)),
        failed=Sum("failed", filter=Q(status=ChunkStatus.DONE)),
        chunks_done=Count("id", filter=Q(status=ChunkStatus.DONE)),
        chunks_running=Count("id", filter=Q(status=ChunkStatus.RUNNING)),
    )
    invoiced, nothing, failed = sums["done"] or 0, sums["nothing"] or 0, sums["failed"] or 0
    failures = run.failures.aggregate(
        open=Count("id", filter=Q(resolved_at__isnull=True)),
        given_up=Count("id", filter=Q(resolved_at__isnull=True, next_attempt_at__isnull=True)),
    )
    done = invoiced + nothing + failed
    total = run.customers_total
    return {
        "customers_total": total,
        "customers_done": done,
        "customers_to_do": max(total - done, 0),
        "invoices_issued": invoiced,
        "nothing_to_bill": nothing,
        "failed": failed,
        "failures_open": failures["open"],
        "failures_given_up": failures["given_up"],
        "chunks_total": run.chunks_total,
        "chunks_done": sums["chunks_done"],
        "chunks_running": sums["chunks_running"],
        "percent": int(done * 100 / total) if total else 100,
        "finished": run.finished_at is not None,
    }
