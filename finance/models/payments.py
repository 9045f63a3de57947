"""Payments received, their allocations to invoices, top-ups (money of a payment turned into credits),
credit notes and withdrawals. DESIGN.md, "Payments and allocation".

Money on these rows is never edited in place by hand: the cached totals on a payment
(`amount_allocated`, `amount_topped_up`, `assignment_changes`) move only in finance/services, with F()
under the payment's row lock, and the CHECK constraints below make the database itself refuse an
over-allocation or a sixth assignment change, whatever the code above it does."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Case, ExpressionWrapper, F, Q, Value, When

from customers.currencies import currency_iso
from customers.money import ZERO, MoneyField, amount_gt_0

MAX_ASSIGNMENT_CHANGES = 5


class PaymentMethod(models.TextChoices):
    CHEQUE = "cheque", "Cheque"
    TELEGRAPHIC_TRANSFER = "telegraphic_transfer", "Telegraphic transfer"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    CASH = "cash", "Cash"
    CARD = "card", "Card"
    OTHER = "other", "Other"


class PaymentStatus(models.TextChoices):
    UNASSIGNED = "unassigned", "Unassigned"
    UNALLOCATED = "unallocated", "Unallocated"
    PARTIALLY_ALLOCATED = "partially_allocated", "Partially allocated"
    ALLOCATED = "allocated", "Allocated"
    DELETED = "deleted", "Deleted"


# The status follows from the row itself (a stored generated column, so it can be filtered and indexed
# and can never disagree with the amounts). "Allocated" counts money allocated to invoices and money
# turned into credits by a top-up payment: both leave the payment's unallocated amount.
_STATUS_EXPRESSION = Case(
    When(deleted_at__isnull=False, then=Value(PaymentStatus.DELETED.value)),
    When(customer__isnull=True, then=Value(PaymentStatus.UNASSIGNED.value)),
    When(Q(amount_allocated=0) & Q(amount_topped_up=0), then=Value(PaymentStatus.UNALLOCATED.value)),
    When(amount__gt=F("amount_allocated") + F("amount_topped_up"),
         then=Value(PaymentStatus.PARTIALLY_ALLOCATED.value)),
    default=Value(PaymentStatus.ALLOCATED.value),
)


# The cash a payment has left to allocate or top up. The one definition, for queries (`Sum(UNALLOCATED)`,
# `Payment.objects.with_cash_left()`) and, on one row, Payment.amount_unallocated.
UNALLOCATED = ExpressionWrapper(F("amount") - F("amount_allocated") - F("amount_topped_up"),
                                output_field=models.DecimalField(max_digits=20, decimal_places=6))


class PaymentQuerySet(models.QuerySet):
    def with_cash_left(self) -> PaymentQuerySet:
        """Live payments with cash left (annotated `unallocated`)."""
        return self.filter(deleted_at__isnull=True).annotate(unallocated=UNALLOCATED).filter(unallocated__gt=0)


class Payment(models.Model):
    """Money received from a customer (or not yet known whose: unassigned)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="payments")
    currency = models.CharField(max_length=3)
    amount = MoneyField()
    received_date = models.DateField()
    method = models.CharField(max_length=24, choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER)
    reference = models.CharField(max_length=120, blank=True, help_text="Bank or cheque reference.")
    invoice_number = models.CharField(max_length=64, blank=True, help_text="Invoice # the payer quoted.")
    remark = models.TextField(blank=True)
    # Cached totals: sum of active allocations / active top-up payments (not top-up invoices: those are
    # allocations). check_finance recomputes them from the rows.
    amount_allocated = MoneyField(editable=False)
    amount_topped_up = MoneyField(editable=False)
    assignment_changes = models.PositiveSmallIntegerField(default=0, editable=False)
    status = models.GeneratedField(expression=_STATUS_EXPRESSION,
                                   output_field=models.CharField(max_length=20, choices=PaymentStatus.choices),
                                   db_persist=True)
    assigned_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-received_date", "-id"]
        constraints = [
            amount_gt_0("payment"),
            currency_iso("payment"),
            models.CheckConstraint(condition=Q(amount_allocated__gte=0) & Q(amount_topped_up__gte=0),
                                   name="payment_used_gte_0"),
            models.CheckConstraint(condition=Q(amount__gte=F("amount_allocated") + F("amount_topped_up")),
                                   name="payment_not_overallocated"),
            models.CheckConstraint(condition=Q(assignment_changes__lte=MAX_ASSIGNMENT_CHANGES),
                                   name="payment_assignment_changes_lte_5"),
            models.CheckConstraint(condition=Q(deleted_at__isnull=True)
                                   | (Q(amount_allocated=0) & Q(amount_topped_up=0)),
                                   name="payment_deleted_only_unused"),
        ]
        indexes = [
            models.Index(fields=["status", "-received_date"], name="payment_status_date_idx"),
            # The payment list's usual filters (status and method, received since): its COUNT is an index-only
            # scan (bench issue 9: 10 -> 3.5 ms for 45,000 matching payments, was a heap visit per payment).
            models.Index(fields=["status", "method", "-received_date"], name="payment_status_method_date_idx"),
            models.Index(fields=["customer", "status"], name="payment_customer_status_idx"),
            models.Index(fields=["-received_date", "-id"], name="payment_received_idx"),
            models.Index(fields=["amount", "id"], name="payment_amount_idx"),  # the list's amount sort
            # Aged receivables as of today: the assigned payments with cash left, with what the report reads.
            models.Index(fields=["customer"], name="payment_unallocated_cash_idx",
                         include=["currency", "received_date", "amount", "amount_allocated", "amount_topped_up"],
                         condition=Q(status__in=["unallocated", "partially_allocated"])),
            # The dashboard's payments not matched and unapplied cash (backoffice.selectors._open_payments): an
            # index-only scan of the open payments (2,700 of 300,000: 2.8 -> 1.2 ms, was a heap visit for each).
            models.Index(fields=["status", "currency"], name="payment_open_idx",
                         include=["id", "amount", "amount_allocated", "amount_topped_up"],
                         condition=Q(status__in=["unassigned", "unallocated", "partially_allocated"])),
        ]

    def __str__(self) -> str:
        return f"Payment #{self.pk} {self.amount} {self.currency}"

    @property
    def status_label(self) -> str:
        """The status in words (a generated column gets no get_status_display())."""
        return PaymentStatus(self.status).label if self.status else ""

    @property
    def amount_unallocated(self) -> Decimal:
        """UNALLOCATED on this row: what is left to allocate or top up (a deleted payment: nothing)."""
        if self.deleted_at is not None:
            return ZERO
        return self.amount - self.amount_allocated - self.amount_topped_up

    @property
    def assignment_changes_left(self) -> int:
        return MAX_ASSIGNMENT_CHANGES - self.assignment_changes


class AllocationSource(models.TextChoices):
    PAYMENT = "payment", "Payment"
    CREDIT = "credit", "Customer credit"


class Allocation(models.Model):
    """Money applied to an invoice: from a payment, or from the customer's credit (portal self-pay).
    Never deleted: an undo marks it reversed (reversed_at) and gives the amount back."""

    source = models.CharField(max_length=8, choices=AllocationSource.choices, default=AllocationSource.PAYMENT)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="allocations")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, related_name="allocations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="allocations")
    amount = MoneyField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.CharField(max_length=150, blank=True)
    reversal_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            amount_gt_0("allocation"),
            models.CheckConstraint(
                condition=(Q(source="payment") & Q(payment__isnull=False))
                | (Q(source="credit") & Q(payment__isnull=True)),
                name="allocation_source_matches_payment",
            ),
        ]
        indexes = [
            models.Index(fields=["payment", "-created_at"], name="allocation_payment_idx"),
            models.Index(fields=["invoice", "-created_at"], name="allocation_invoice_idx"),
            models.Index(fields=["customer", "-created_at"], name="allocation_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"Allocation #{self.pk} {self.amount}"

    @property
    def is_active(self) -> bool:
        return self.reversed_at is None


class TopUp(models.Model):
    """Money of a payment turned into credits: by provisioning a top-up invoice (the allocation that paid
    it) or by a top-up payment (no invoice). Removal marks it removed and gives the money back to the
    payment's unallocated amount."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="top_ups")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="top_ups")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="top_ups")
    allocation = models.OneToOneField(Allocation, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="top_up")
    amount = MoneyField()
    # True when the credit went to the ledger as unbilled CR (consolidated / none customers); False for
    # `individual` customers, whose credit already stands in the amount due from the assignment.
    posted_to_ledger = models.BooleanField(default=False)
    remark = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.CharField(max_length=150, blank=True)
    removal_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            amount_gt_0("top_up"),
            models.CheckConstraint(condition=Q(invoice__isnull=True, allocation__isnull=True)
                                   | Q(invoice__isnull=False, allocation__isnull=False),
                                   name="top_up_invoice_has_allocation"),
            # Provisioning happens once per top-up invoice.
            models.UniqueConstraint(fields=["invoice"], condition=Q(removed_at__isnull=True, invoice__isnull=False),
                                    name="top_up_one_active_provisioning"),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="top_up_customer_idx")]

    def __str__(self) -> str:
        return f"Top-up #{self.pk} {self.amount}"

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class CreditNote(models.Model):
    """A numbered credit to a customer: against an invoice (reduces what it owes; cancels it when it
    covers the whole total) or as account credit."""

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="credit_notes")
    currency = models.CharField(max_length=3)
    amount = MoneyField()
    reason = models.CharField(max_length=255)
    issue_date = models.DateField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [amount_gt_0("credit_note"),
                       currency_iso("credit_note")]
        indexes = [models.Index(fields=["customer", "-issue_date"], name="credit_note_customer_idx"),
                   # the list's sorts (finance.payments.filters.CreditNoteFilterSet), read either way
                   models.Index(fields=["issue_date", "id"], name="credit_note_issued_idx"),
                   models.Index(fields=["amount", "id"], name="credit_note_amount_idx")]

    def __str__(self) -> str:
        return self.number


class Withdrawal(models.Model):
    """A customer's own credit paid back to them."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="withdrawals")
    currency = models.CharField(max_length=3)
    amount = MoneyField()
    method = models.CharField(max_length=24, choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER)
    reference = models.CharField(max_length=120, blank=True)
    remark = models.TextField(blank=True)
    paid_date = models.DateField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-paid_date", "-id"]
        constraints = [amount_gt_0("withdrawal"),
                       currency_iso("withdrawal")]
        indexes = [models.Index(fields=["customer", "-paid_date"], name="withdrawal_customer_idx"),
                   # the list's sorts (finance.payments.filters.WithdrawalFilterSet), read either way
                   models.Index(fields=["paid_date", "id"], name="withdrawal_paid_idx"),
                   models.Index(fields=["amount", "id"], name="withdrawal_amount_idx")]

    def __str__(self) -> str:
        return f"Withdrawal #{self.pk} {self.amount} {self.currency}"


__all__ = [
    "MAX_ASSIGNMENT_CHANGES", "Allocation", "AllocationSource", "CreditNote", "Payment", "PaymentMethod",
    "PaymentStatus", "TopUp", "Withdrawal",
]
