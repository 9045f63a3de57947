"""Invoices (top-up, purchase, monthly), their lines, and the gapless number series."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import ExpressionWrapper, F, Q

from customers.currencies import currency_iso
from customers.money import ZERO, MoneyField, amount_gt_0


class InvoiceType(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    PURCHASE = "purchase", "Purchase"
    MONTHLY = "monthly", "Monthly"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Awaiting payment"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


OPEN_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID)

# What an invoice still asks for: its total less payments and credit notes. The one definition, for queries
# (`Sum(OUTSTANDING)`) and, on one row, Invoice.amount_due / amount_outstanding.
OUTSTANDING = ExpressionWrapper(F("total") - F("amount_paid") - F("amount_credited"),
                                output_field=models.DecimalField(max_digits=20, decimal_places=6))

# An open receivable invoice: issued and still owed (sent or partially paid), and not a top-up invoice (a
# deposit the customer may pay or not, never a debt). The one definition: the stored column
# Invoice.open_receivable is computed from it, so the ORM (Invoice.objects.open_receivable()), templates
# (invoice.open_receivable) and SQL (`WHERE open_receivable`, finance's reports and checks) all read it.
OPEN_RECEIVABLE = Q(status__in=[s.value for s in OPEN_STATUSES]) & ~Q(type=InvoiceType.TOP_UP.value)

# A status filter's choices: a stored status also holds the invoices Invoice.status_label words as credited.
STATUS_FILTER_CHOICES = [(value, {InvoiceStatus.PARTIALLY_PAID: "Partially paid or credited",
                                  InvoiceStatus.VOID: "Void or credited"}.get(value, label))
                         for value, label in InvoiceStatus.choices]


class InvoiceQuerySet(models.QuerySet):
    def open_receivable(self) -> InvoiceQuerySet:
        """Open receivable invoices (OPEN_RECEIVABLE): what customers owe on their purchase and monthly invoices."""
        return self.filter(open_receivable=True)


class Invoice(models.Model):
    """A numbered invoice. Money on it is never edited in place: `amount_paid` (allocations of payments and
    of credit) and `amount_credited` (credit notes) move only through invoices.settlement, under this
    row's lock; the status follows from them."""

    # Empty only inside the billing run's chunk transaction, between the insert and the chunk's one numbering
    # statement; a deferred constraint trigger (migration 0009) refuses a commit that leaves it empty.
    number = models.CharField(max_length=32, unique=True, null=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="invoices")
    type = models.CharField(max_length=10, choices=InvoiceType.choices)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    name = models.CharField(max_length=200, help_text="What the invoice is for, as the customer sees it.")
    billing_to = models.TextField(blank=True, help_text="Billing name and address printed on the invoice.")
    currency = models.CharField(max_length=3)
    issue_date = models.DateField()
    due_date = models.DateField()
    period_start = models.DateField(null=True, blank=True, help_text="Monthly invoices: the month billed.")
    subtotal = MoneyField(editable=False)
    tax = MoneyField(editable=False)
    total = MoneyField(editable=False)
    amount_paid = MoneyField(editable=False)
    amount_credited = MoneyField(editable=False)
    # Idempotency of generated invoices: "monthly:<customer>:<YYYY-MM>", "renewal:<subscription>:<date>",
    # "auto-top-up:<customer>:<date>". Manual invoices leave it empty.
    source_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=255, blank=True)
    open_receivable = models.GeneratedField(expression=OPEN_RECEIVABLE, output_field=models.BooleanField(),
                                            db_persist=True, help_text="Sent or partially paid, not a top-up invoice.")

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_gte_0"),
            currency_iso("invoice"),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax")), name="invoice_total_is_subtotal_plus_tax"),
            models.CheckConstraint(condition=~Q(type="top_up") | Q(tax=0), name="invoice_top_up_untaxed"),
            models.CheckConstraint(condition=Q(due_date__gte=F("issue_date")), name="invoice_due_after_issue"),
            models.CheckConstraint(condition=~Q(type="monthly") | Q(period_start__isnull=False),
                                   name="invoice_monthly_has_period"),
            models.CheckConstraint(condition=Q(status__in=["draft", "void"]) | Q(sent_at__isnull=False),
                                   name="invoice_issued_has_sent_at"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0) & Q(amount_credited__gte=0),
                                   name="invoice_settled_gte_0"),
            models.CheckConstraint(condition=Q(amount_paid__lte=F("total") - F("amount_credited")),
                                   name="invoice_not_overpaid"),
            models.UniqueConstraint(fields=["customer", "period_start"], condition=Q(type="monthly"),
                                    name="invoice_one_monthly_per_period"),
        ]
        indexes = [
            models.Index(fields=["customer", "status"], name="invoice_customer_status_idx"),
            models.Index(fields=["status", "due_date"], name="invoice_status_due_idx"),
            # The list filtered by type and status, in its default order: the page is the first 25 entries
            models.Index(fields=["type", "status", "-issue_date", "-id"], name="invoice_type_status_idx"),
            models.Index(fields=["-issue_date", "-id"], name="invoice_issue_date_idx"),
            # the list's due date and total sorts (invoices.selectors.SORTS), read either way
            models.Index(fields=["due_date", "id"], name="invoice_due_date_idx"),
            models.Index(fields=["total", "id"], name="invoice_total_idx"),
            models.Index(fields=["customer", "-issue_date", "-id"], name="invoice_customer_issued_idx"),
            # Aged receivables as of today (finance.receivables.selectors.aged_receivables): the open receivable invoices
            # with every column the report reads, so it is an index-only scan of ~12,000 rows at 300,000 invoices.
            models.Index(fields=["customer"], name="invoice_open_receivable_idx",
                         include=["currency", "due_date", "issue_date", "sent_at", "total", "amount_paid",
                                  "amount_credited"],
                         condition=Q(open_receivable=True)),
            # The dashboard's top-up invoices of the 30 days by status (backoffice.selectors._top_up_invoices): an
            # index-only scan of those days' top-ups (3,700 of 300,000 invoices: 3.0 -> 1.1 ms).
            models.Index(fields=["issue_date"], name="invoice_top_up_issued_idx",
                         include=["id", "currency", "status", "total"], condition=Q(type="top_up")),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.get_type_display()}"

    @property
    def amount_due(self) -> Decimal:
        """OUTSTANDING on this row: a draft asks for its total, a void invoice for nothing."""
        if self.status == InvoiceStatus.VOID:
            return ZERO
        return self.total - self.amount_paid - self.amount_credited

    @property
    def amount_outstanding(self) -> Decimal:
        """What an issued invoice still owes (a draft owes nothing yet)."""
        return ZERO if self.status == InvoiceStatus.DRAFT else self.amount_due

    @property
    def status_label(self) -> str:
        """The status in words, wherever an invoice's status is shown. A credit note settles an invoice as a
        payment does, so the stored status (what every open-invoice rule reads) is partially paid, or void once
        credit notes cancel it in full; the words say credited when no payment is in it: "Partially credited",
        "Credited"."""
        if self.amount_credited > ZERO and self.amount_paid == ZERO:
            if self.status == InvoiceStatus.PARTIALLY_PAID:
                return "Partially credited"
            if self.status == InvoiceStatus.VOID:
                return "Credited"
        return self.get_status_display()


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    description = models.CharField(max_length=255)
    quantity = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("1"))
    unit_price = MoneyField()
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=ZERO, help_text="Percent, e.g. 9 for 9%.")
    amount = MoneyField(editable=False, help_text="quantity x unit price, before tax")
    tax_amount = MoneyField(editable=False)
    # The ledger entry this line bills (monthly run, purchase invoices); empty for manual lines.
    transaction = models.OneToOneField("customers.Transaction", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="invoice_line")
    # The ledger kind the line stands for (customers.TransactionKind): a purchase line posts its charge with
    # this kind when the invoice is issued; a monthly usage line sums the entries of this kind.
    kind = models.CharField(max_length=24, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoice_line_quantity_gt_0"),
            models.CheckConstraint(condition=Q(unit_price__gte=0) & Q(amount__gte=0) & Q(tax_amount__gte=0),
                                   name="invoice_line_amounts_gte_0"),
            models.CheckConstraint(condition=Q(tax_rate__gte=0) & Q(tax_rate__lte=100), name="invoice_line_tax_rate"),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def quantity_display(self) -> str:
        """1.000 -> "1", 2.500 -> "2.5" (never "1E+1")."""
        return f"{self.quantity.normalize():f}"

    @property
    def tax_rate_display(self) -> str:
        return f"{self.tax_rate.normalize():f}"


class InvoiceLineEntry(models.Model):
    """A ledger entry billed by an aggregated line (a monthly invoice's "Calls" line stands for every call
    of the month). One row per billed entry, and at most one line per entry (the unique transaction), so
    every billed transaction is traceable to the line that billed it without one invoice line per call.
    Purchase lines and per-entry monthly lines link through InvoiceLine.transaction instead."""

    line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="entries")
    transaction = models.OneToOneField("customers.Transaction", on_delete=models.PROTECT,
                                       related_name="invoice_line_entry")

    class Meta:
        verbose_name_plural = "invoice line entries"

    def __str__(self) -> str:
        return f"line {self.line_id} bills transaction {self.transaction_id}"


class CreditSource(models.TextChoices):
    AMOUNT_DUE = "amount_due", "Unapplied credit in the amount due"
    UNBILLED = "unbilled", "Unbilled credit (top-ups)"


class CreditApplication(models.Model):
    """Customer credit applied to an invoice by the monthly billing run (DESIGN.md: "applies available
    credits to the new invoice"). With finance's allocations it explains every cent of amount_paid:
    Invoice.amount_paid = sum of active finance allocations + sum of these rows. `transaction` is the
    unbilled leg of the CREDIT_APPLIED pair when unbilled credit was used (consolidated customers)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_applications")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=12, choices=CreditSource.choices)
    amount = MoneyField()
    transaction = models.OneToOneField("customers.Transaction", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            amount_gt_0("credit_application"),
            models.UniqueConstraint(fields=["invoice", "source"], name="credit_application_once_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} credit on invoice {self.invoice_id}"


class NumberSeries(models.Model):
    """The last number taken in a series ("INV-2026", "CN-2026"). Taken under this row's lock in the same
    transaction as the document's save, so a rollback leaves no gap and concurrency no duplicate."""

    key = models.CharField(max_length=20, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "number series"

    def __str__(self) -> str:
        return f"{self.key}: {self.last_value}"


class BillingRunTrigger(models.TextChoices):
    BEAT = "beat", "Scheduled (beat)"
    COMMAND = "command", "manage.py billing_run"
    STAFF = "staff", "Started by staff"


class BillingRun(models.Model):
    """One start of the monthly billing run for a period (beat starts one on days 1, 2 and 3; each bills only
    the customers still without their monthly invoice). The customers are split into chunks (BillingRunChunk)
    that workers claim and bill; the run's progress is the sum of its chunks (no counter row every worker
    would update), its failures are BillingRunFailure rows."""

    period = models.DateField(help_text="The month billed (its first day).")
    trigger = models.CharField(max_length=10, choices=BillingRunTrigger.choices)
    started_by = models.CharField(max_length=120)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    customers_total = models.PositiveIntegerField(
        default=0, help_text="Candidates found when the run started."
    )
    chunks_total = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["period", "-started_at"], name="billing_run_period_idx")]

    def __str__(self) -> str:
        return f"Billing run {self.period:%Y-%m} #{self.pk}"


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "To do"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class BillingRunChunk(models.Model):
    """A slice of a run's customers, billed by one worker at a time: claimed with SELECT ... FOR UPDATE SKIP
    LOCKED (pending, or running with a claim older than the stale limit: its worker died), billed, marked
    done with its counts. A chunk's customers are billed in one transaction (invoices.services.billing_run),
    so a worker killed in the middle leaves all of them unbilled and the chunk claimable again."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    customer_ids = ArrayField(models.BigIntegerField())
    status = models.CharField(max_length=8, choices=ChunkStatus.choices, default=ChunkStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    invoiced = models.PositiveIntegerField(default=0)
    nothing_to_bill = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    # The chunk's part that runs one chunk at a time: from holding the series row (the numbering statement)
    # to COMMIT; and how long it waited for that row (another chunk's tail). bench/jobs.py sums them.
    serial_seconds = models.FloatField(null=True, blank=True)
    wait_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="billing_run_chunk_seq_unique")]
        indexes = [models.Index(fields=["status", "claimed_at"], name="billing_run_chunk_status_idx")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of run #{self.run_id}"


class BillingRunFailure(models.Model):
    """A customer the run could not bill, with the error, retried with back-off (finance.tasks
    .billing_run_resume) until it is billed (resolved_at) or the retries are used up; staff see it on the
    run's page."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="failures")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Empty once retries are used up.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["run", "customer"], name="billing_run_failure_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="billing_failure_retry_idx",
                condition=Q(resolved_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in run #{self.run_id}: {self.error[:40]}"
