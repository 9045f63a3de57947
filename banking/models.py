"""Bank accounts of the company, the statements imported for them and their lines (docs/reconciliation.md).

A statement line is the bank's record of money in (+) or out (-) of one of our accounts. It is stored once:
its `identity` is unique per account (a database constraint), so importing the same file again, or a
statement that overlaps one already imported, adds only the lines not there yet."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from customers.currencies import DB_CURRENCY_REGEX
from customers.money import MoneyField


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", "ISO 20022 camt.053"
    MT940 = "mt940", "SWIFT MT940"
    CSV = "csv", "CSV"


class BankAccount(models.Model):
    """One of the company's own bank accounts. Statements are imported into it; their currency must be its
    currency. The `csv_*` fields are the column mapping of the bank's CSV export (column names as in the
    file's header row); camt.053 and MT940 files need none."""

    name = models.CharField(max_length=120)
    code = models.SlugField(max_length=32, unique=True,
                            help_text="Short name used by `manage.py import_statement --account CODE`.")
    iban = models.CharField("IBAN or account number", max_length=34,
                            help_text="As the bank prints it; spaces are ignored when a statement names its account.")
    bic = models.CharField("BIC", max_length=11, blank=True)
    currency = models.CharField(max_length=3)
    # The CSV column mapping.
    csv_delimiter = models.CharField("CSV delimiter", max_length=1, default=",", blank=True)
    csv_date_column = models.CharField("Date column", max_length=64, blank=True)
    csv_date_format = models.CharField("Date format", max_length=32, default="%Y-%m-%d", blank=True,
                                       help_text="As Python's strptime reads it: %Y-%m-%d, %d/%m/%Y, %d.%m.%Y ...")
    csv_value_date_column = models.CharField("Value date column", max_length=64, blank=True)
    csv_amount_column = models.CharField("Amount column", max_length=64, blank=True,
                                         help_text="A signed amount (money out is negative). Or leave empty and "
                                                   "name the debit and credit columns.")
    csv_debit_column = models.CharField("Debit column", max_length=64, blank=True)
    csv_credit_column = models.CharField("Credit column", max_length=64, blank=True)
    csv_decimal_comma = models.BooleanField("Decimal comma", default=False,
                                            help_text="Amounts are written 1.234,56 (a comma before the decimals).")
    csv_reference_column = models.CharField("Reference column", max_length=64, blank=True)
    csv_payer_column = models.CharField("Payer column", max_length=64, blank=True)
    csv_payer_account_column = models.CharField("Payer account column", max_length=64, blank=True)
    csv_remittance_column = models.CharField("Remittance text column", max_length=64, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=DB_CURRENCY_REGEX), name="bank_account_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"

    @property
    def has_csv_mapping(self) -> bool:
        return bool(self.csv_date_column and (self.csv_amount_column
                                              or (self.csv_debit_column and self.csv_credit_column)))


class Statement(models.Model):
    """One imported file: what it was, who imported it, and how many of its lines were new."""

    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="statements")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file_size = models.PositiveBigIntegerField()
    format = models.CharField(max_length=8, choices=StatementFormat.choices)
    statement_ref = models.CharField("Statement id", max_length=140, blank=True,
                                     help_text="The bank's id of the statement (camt.053 Stmt/Id, MT940 :20:).")
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    lines_total = models.PositiveIntegerField()
    lines_new = models.PositiveIntegerField()
    lines_duplicate = models.PositiveIntegerField("Already imported")
    imported_at = models.DateTimeField()
    imported_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["-imported_at", "-id"]
        indexes = [models.Index(fields=["account", "-imported_at"], name="statement_account_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(lines_total=models.F("lines_new") + models.F("lines_duplicate")),
                                   name="statement_counts_add_up"),
        ]

    def __str__(self) -> str:
        return f"Statement #{self.pk} {self.file_name}"


class RefusedFile(models.Model):
    """A file of a folder import (`manage.py import_statement FOLDER`) that was refused, by its content: a scheduled
    import reports it once and skips it on the next runs, until the file changes (another content) or the bank
    account is edited after the refusal (a CSV mapping fixed may make it readable)."""

    account = models.ForeignKey(BankAccount, on_delete=models.CASCADE, related_name="refused_files")
    file_sha256 = models.CharField(max_length=64)
    file_name = models.CharField(max_length=255)
    reason = models.TextField()
    refused_at = models.DateTimeField()

    class Meta:
        ordering = ["-refused_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "file_sha256"], name="refused_file_unique")]

    def __str__(self) -> str:
        return f"Refused {self.file_name}"


class LineState(models.TextChoices):
    NEW = "new", "New"
    SUGGESTED = "suggested", "Suggested"
    RECONCILED = "reconciled", "Reconciled"
    IGNORED = "ignored", "Ignored"


class StatementLine(models.Model):
    """One booked entry of a bank statement. `amount` is signed: + money received, - money paid out.

    `identity` (unique per account) is "ref:<the bank's entry reference>" when the bank gives one, else
    "key:<booking date>|<amount>|<reference>|<n>", n being the line's occurrence among the lines of its file
    with that same booking date, amount and reference (1 for the first): two equal transfers on one day stay
    two lines, and an overlapping statement, which repeats whole days, finds the same identities."""

    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="lines")
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines",
                                  help_text="The import that brought the line in.")
    position = models.PositiveIntegerField(help_text="The line's place in that statement, from 1.")
    identity = models.CharField(max_length=255)
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    amount = MoneyField()
    currency = models.CharField(max_length=3)
    bank_reference = models.CharField(max_length=140, blank=True,
                                      help_text="The bank's reference of the entry (camt.053 AcctSvcrRef, MT940 //).")
    reference = models.CharField(max_length=140, blank=True,
                                 help_text="The payer's reference (camt.053 EndToEndId, MT940 :61: reference).")
    payer_name = models.CharField(max_length=140, blank=True)
    payer_account = models.CharField(max_length=64, blank=True)
    remittance_text = models.TextField(blank=True)
    bank_code = models.CharField("Bank transaction code", max_length=35, blank=True)
    state = models.CharField(max_length=12, choices=LineState.choices, default=LineState.NEW)
    created_at = models.DateTimeField()
    # Reconciliation (banking.services.reconcile): the payment the line was matched to (recorded from it, or an
    # existing one linked), or, for money out, the withdrawal it clears. One line per payment / withdrawal.
    payment = models.OneToOneField("finance.Payment", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="statement_line")
    payment_created = models.BooleanField(default=False,
                                          help_text="The payment was recorded from this line (undo deletes it).")
    withdrawal = models.OneToOneField("finance.Withdrawal", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="statement_line")
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconciled_by = models.CharField(max_length=150, blank=True)
    ignored_reason = models.CharField(max_length=255, blank=True)
    # The best suggestion's score (0 when none), kept beside the line so the inbox filters and sorts by it.
    best_score = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-booking_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "identity"], name="statement_line_identity_unique"),
            models.CheckConstraint(condition=~Q(state="reconciled") | Q(payment__isnull=False)
                                   | Q(withdrawal__isnull=False), name="statement_line_reconciled_has_match"),
            models.CheckConstraint(condition=Q(state="reconciled") | (Q(payment__isnull=True)
                                   & Q(withdrawal__isnull=True)), name="statement_line_match_only_reconciled"),
            models.CheckConstraint(condition=~Q(amount=0), name="statement_line_amount_not_0"),
            models.CheckConstraint(condition=Q(currency__regex=DB_CURRENCY_REGEX),
                                   name="statement_line_currency_iso"),
        ]
        indexes = [
            models.Index(fields=["state", "-booking_date", "-id"], name="statement_line_state_idx"),
            models.Index(fields=["statement", "position"], name="statement_line_statement_idx"),
            models.Index(fields=["state", "-best_score", "-booking_date", "-id"], name="statement_line_inbox_idx"),
            # The inbox's default (new and suggested lines, best first) read in order from one index: with the two
            # states in the state index above, PostgreSQL sorted every open line for each page (bench/pages.py,
            # 110,000 lines: 924 ms a page alone under load).
            models.Index(fields=["-best_score", "-booking_date", "-id"], name="statement_line_open_idx",
                         condition=Q(state__in=["new", "suggested"])),
        ]

    def __str__(self) -> str:
        return f"Line #{self.pk} {self.booking_date} {self.amount} {self.currency}"


class SuggestionKind(models.TextChoices):
    ALLOCATE = "allocate", "Record a payment and allocate it"
    ASSIGN = "assign", "Record a payment for the customer"
    LINK_PAYMENT = "link_payment", "Link to the payment already recorded"
    CLEAR_WITHDRAWAL = "clear_withdrawal", "Clear the withdrawal"


class Suggestion(models.Model):
    """What a statement line probably is, with the reasons, ranked by score (banking.matching). Recomputed when
    the line is imported or returns to the inbox; a confirmation goes through the finance services, which check
    again (an invoice paid meanwhile is refused there, with the reason)."""

    line = models.ForeignKey(StatementLine, on_delete=models.CASCADE, related_name="suggestions")
    rank = models.PositiveSmallIntegerField()
    score = models.PositiveSmallIntegerField(help_text="0-100; 90 and above is high confidence.")
    kind = models.CharField(max_length=20, choices=SuggestionKind.choices)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="+")
    payment = models.ForeignKey("finance.Payment", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    withdrawal = models.ForeignKey("finance.Withdrawal", on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="+")
    # [{"invoice": id, "number": "INV-...", "amount": "12.50"}]: what the payment would be allocated to.
    allocations = models.JSONField(default=list, blank=True)
    reasons = models.JSONField(default=list)

    class Meta:
        ordering = ["line", "rank"]
        constraints = [models.UniqueConstraint(fields=["line", "rank"], name="suggestion_line_rank_unique")]

    def __str__(self) -> str:
        return f"Suggestion {self.rank} for line #{self.line_id} ({self.score})"


class ImportJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Refused"


class ImportJob(models.Model):
    """A file too large to import while the page waits, handed to the Celery worker (banking.tasks). The file
    is kept here until the worker has read it, then emptied; progress is reported through Celery's result
    backend (the import itself is one transaction, invisible until it commits)."""

    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="import_jobs")
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField()
    content = models.BinaryField(editable=False)
    state = models.CharField(max_length=8, choices=ImportJobState.choices, default=ImportJobState.QUEUED)
    task_id = models.CharField(max_length=64, blank=True)
    statement = models.OneToOneField(Statement, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="import_job")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    created_by_kind = models.CharField(max_length=16, default="staff")
    created_by_user_id = models.BigIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.file_name}"
