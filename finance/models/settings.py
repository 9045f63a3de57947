"""Payment settings per customer and the daily auto top-up. DESIGN.md "Payment settings and the daily auto
top-up", seeds/001 (Organization Management).

- PaymentSettings: how a customer's credits are topped up automatically (method, trigger amount, limit
  threshold, on/off). Staff edit it; for the card method the customer sets the amounts in the portal.
- AutoTopUp: one row per customer per day the job acted on, whatever the outcome. The unique key on
  (customer, run_date) is THE guarantee of "at most one auto top-up per customer per day": the row is
  inserted first, so a second beat, a redelivered task or a second worker finds it and stops.
- AutoTopUpRun / AutoTopUpDecision: the decision log, one run row per execution of the job and one
  decision per run and customer with auto top-up on (fired / skipped and why / failed and why). Skips are
  written set-based (INSERT ... SELECT); the outcomes of the candidates are bulk-inserted in chunks."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from customers.money import MoneyField, amount_gt_0


class TopUpMethod(models.TextChoices):
    CHEQUE_TT = "cheque_tt", "Cheque or telegraphic transfer"
    CARD = "card", "Online payment by card (Stripe)"
    MASTER_ACCOUNT = "master_account", "Issue from master account"


class PaymentSettings(models.Model):
    """A customer's payment settings. Amounts are in the customer's currency. While auto top-up is off the
    amounts may be empty; to turn it on both must be set (the database refuses otherwise)."""

    customer = models.OneToOneField("customers.Customer", on_delete=models.PROTECT, related_name="payment_settings")
    method = models.CharField(max_length=16, choices=TopUpMethod.choices, default=TopUpMethod.CHEQUE_TT)
    trigger_amount = MoneyField(null=True, blank=True, default=None,
                                help_text="The size of each automatic top-up.")
    limit_threshold = MoneyField(null=True, blank=True, default=None,
                                 help_text="When usable credits fall to this amount or below, top up.")
    auto_top_up_enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "payment settings"
        verbose_name_plural = "payment settings"
        ordering = ["customer_id"]
        constraints = [
            models.CheckConstraint(condition=Q(trigger_amount__isnull=True) | Q(trigger_amount__gt=0),
                                   name="payment_settings_trigger_gt_0"),
            models.CheckConstraint(condition=Q(limit_threshold__isnull=True) | Q(limit_threshold__gt=0),
                                   name="payment_settings_threshold_gt_0"),
            models.CheckConstraint(
                condition=Q(auto_top_up_enabled=False)
                | (Q(trigger_amount__isnull=False) & Q(limit_threshold__isnull=False)),
                name="payment_settings_auto_needs_amounts",
            ),
        ]
        indexes = [
            # The daily job's candidate query starts from the customers with auto top-up on.
            models.Index(fields=["customer"], name="payment_settings_auto_on_idx",
                         condition=Q(auto_top_up_enabled=True)),
        ]

    def __str__(self) -> str:
        return f"Payment settings of customer {self.customer_id}"


class AutoTopUpStatus(models.TextChoices):
    # The claim. Cheque/TT and master-account top-ups leave it in the same transaction; a card top-up
    # commits it before Stripe is called, and a redelivered task resumes it (same idempotency key).
    PENDING = "pending", "In progress"
    FIRED = "fired", "Topped up"
    FAILED = "failed", "Failed"


class AutoTopUp(models.Model):
    """The day's automatic top-up of one customer. Never deleted; at most one per customer and day."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="auto_top_ups")
    run_date = models.DateField()
    run = models.ForeignKey("finance.AutoTopUpRun", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="auto_top_ups", help_text="The run that claimed it.")
    status = models.CharField(max_length=8, choices=AutoTopUpStatus.choices)
    method = models.CharField(max_length=16, choices=TopUpMethod.choices)
    amount = MoneyField(help_text="The trigger amount at the time of the top-up.")
    currency = models.CharField(max_length=3)
    usable_credits_before = MoneyField(help_text="Usable credits when the job decided to top up.")
    limit_threshold = MoneyField(help_text="The limit threshold at the time of the top-up.")
    failure_code = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it failed, as the customer is told.")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", help_text="Cheque/TT: the top-up invoice issued and sent.")
    card_payment = models.ForeignKey("finance.CardPayment", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", help_text="Card: the off-session charge.")
    transfer_entry = models.ForeignKey("customers.MasterWalletEntry", on_delete=models.PROTECT, null=True,
                                       blank=True, related_name="+",
                                       help_text="Master account: the wallet's debit entry.")
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-run_date", "-id"]
        constraints = [
            # Invariant 5: at most one auto top-up per customer per day, whatever runs how often.
            models.UniqueConstraint(fields=["customer", "run_date"], name="auto_top_up_once_per_customer_per_day"),
            amount_gt_0("auto_top_up"),
            models.CheckConstraint(
                condition=(Q(status="pending") & Q(completed_at__isnull=True))
                | (~Q(status="pending") & Q(completed_at__isnull=False)),
                name="auto_top_up_completed_iff_not_pending",
            ),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(reason=""), name="auto_top_up_failure_has_reason"),
            # A fired top-up points at what it did.
            models.CheckConstraint(
                condition=~Q(status="fired")
                | (Q(method="cheque_tt") & Q(invoice__isnull=False))
                | (Q(method="card") & Q(card_payment__isnull=False))
                | (Q(method="master_account") & Q(transfer_entry__isnull=False)),
                name="auto_top_up_fired_has_result",
            ),
        ]
        indexes = [
            models.Index(fields=["run_date", "status"], name="auto_top_up_day_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Auto top-up {self.run_date} customer {self.customer_id} ({self.status})"


class AutoTopUpTrigger(models.TextChoices):
    BEAT = "beat", "Daily schedule"
    COMMAND = "command", "Management command"
    STAFF = "staff", "Staff"


class AutoTopUpRun(models.Model):
    """One execution of the daily job for a run date. The counts are written when the run finishes; a run
    without finished_at was interrupted (its customers are picked up by the next run of the same day). A run
    staff ask for ("Run now") is written when they ask (requested_at, queued: no started_at yet) and started
    by the worker that picks up its task."""

    run_date = models.DateField()
    trigger = models.CharField(max_length=8, choices=AutoTopUpTrigger.choices)
    actor_label = models.CharField(max_length=150, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="When staff asked for it (Run now).")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker started it (empty: queued).")
    finished_at = models.DateTimeField(null=True, blank=True)
    customers_count = models.PositiveIntegerField(null=True, blank=True, help_text="Customers with auto top-up on.")
    fired_count = models.PositiveIntegerField(null=True, blank=True)
    failed_count = models.PositiveIntegerField(null=True, blank=True)
    skipped_count = models.PositiveIntegerField(null=True, blank=True)
    # Written when the run starts (the set-based pass): how many candidates the chunks hold, and how many chunks.
    candidates_count = models.PositiveIntegerField(null=True, blank=True,
                                                   help_text="Candidates handed to the workers in chunks.")
    chunks_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-run_date", "-started_at", "-id"]
        indexes = [models.Index(fields=["-run_date", "-started_at"], name="auto_top_up_run_day_idx")]

    def __str__(self) -> str:
        return f"Auto top-up run {self.run_date} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    @property
    def is_queued(self) -> bool:
        return self.started_at is None

    @property
    def since(self):
        """When it started, or was asked for while it waits for a worker."""
        return self.started_at or self.requested_at


class AutoTopUpChunkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRY = "retry", "Waiting to retry"
    DONE = "done", "Done"


class AutoTopUpChunk(models.Model):
    """A slice of a run's candidates, handled by one Celery task on any worker (finance.tasks.auto_top_up_chunk).
    The worker that handles it holds a session advisory lock on it (released by PostgreSQL if the worker dies),
    so two deliveries never handle it at once; a customer already decided in the run is not handled again.
    `errors`: customer id -> the unexpected error of its last attempt (kept while the chunk waits to retry)."""

    run = models.ForeignKey(AutoTopUpRun, on_delete=models.PROTECT, related_name="chunks")
    seq = models.PositiveIntegerField()
    customer_ids = ArrayField(models.BigIntegerField())
    status = models.CharField(max_length=8, choices=AutoTopUpChunkStatus.choices, default=AutoTopUpChunkStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=150, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    errors = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="auto_top_up_chunk_once_per_run")]
        indexes = [models.Index(fields=["run", "status"], name="auto_top_up_chunk_run_idx")]

    def __str__(self) -> str:
        return f"Auto top-up run #{self.run_id} chunk {self.seq}"


class TopUpDecision(models.TextChoices):
    FIRED = "fired", "Fired"
    SKIPPED_ABOVE_THRESHOLD = "skipped_above_threshold", "Skipped: above threshold"
    SKIPPED_ALREADY_TODAY = "skipped_already_today", "Skipped: already today"
    SKIPPED_OPEN_INVOICE = "skipped_open_invoice", "Skipped: open top-up invoice"
    SKIPPED_DISABLED = "skipped_disabled", "Skipped: auto top-up turned off"
    FAILED = "failed", "Failed"
    # Card only: the charge could not be confirmed (Stripe unreachable); the day's row stays in progress
    # and the next run of the same day resumes it with the same idempotency key.
    IN_PROGRESS = "in_progress", "In progress: resumed by the next run"


SKIPPED_DECISIONS = (TopUpDecision.SKIPPED_ABOVE_THRESHOLD, TopUpDecision.SKIPPED_ALREADY_TODAY,
                     TopUpDecision.SKIPPED_OPEN_INVOICE, TopUpDecision.SKIPPED_DISABLED)


class AutoTopUpDecision(models.Model):
    """What one run decided for one customer, and the figures it decided on."""

    run = models.ForeignKey(AutoTopUpRun, on_delete=models.PROTECT, related_name="decisions")
    run_date = models.DateField()
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=24, choices=TopUpDecision.choices)
    method = models.CharField(max_length=16, choices=TopUpMethod.choices)
    usable_credits = MoneyField(null=True, blank=True, default=None)
    limit_threshold = MoneyField(null=True, blank=True, default=None)
    trigger_amount = MoneyField(null=True, blank=True, default=None)
    reason = models.CharField(max_length=500, blank=True)
    auto_top_up = models.ForeignKey(AutoTopUp, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [
            # One decision per run and customer.
            models.UniqueConstraint(fields=["run", "customer"], name="auto_top_up_decision_once_per_run"),
        ]
        indexes = [
            models.Index(fields=["run", "decision"], name="auto_top_up_decision_run_idx"),
            models.Index(fields=["run_date", "decision"], name="auto_top_up_decision_day_idx"),
            models.Index(fields=["customer", "-run_date"], name="auto_top_up_decision_cust_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.run_date} customer {self.customer_id}: {self.get_decision_display()}"


__all__ = ["AutoTopUp", "AutoTopUpChunk", "AutoTopUpChunkStatus", "AutoTopUpDecision", "AutoTopUpRun", "AutoTopUpStatus", "TopUpDecision", "PaymentSettings",
           "AutoTopUpTrigger", "SKIPPED_DECISIONS", "TopUpMethod"]
