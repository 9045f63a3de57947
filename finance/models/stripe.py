"""Card payments through Stripe and the Stripe events received. DESIGN.md "Customer portal" and "Payment
settings and the daily auto top-up"; the gateway (finance/cards/gateway.py) is the only code that talks to Stripe.

A CardPayment is our own row for one attempt to take money by card: a Checkout Session the customer pays
on Stripe's hosted page (a portal top-up, or a top-up to pay a purchase invoice), or an off-session charge
of the saved card (the daily auto top-up). It is created before Stripe is called, so every Stripe object
and idempotency key leads back to it; it is credited at most once (credited_at, and the unique
idempotency key of its ledger entry), whichever of the redirect and the webhooks arrives first."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from customers.money import MoneyField, amount_gt_0


class CardPaymentPurpose(models.TextChoices):
    TOP_UP = "top_up", "Online top-up"
    INVOICE = "invoice", "Invoice payment"
    INVOICES = "invoices", "Payment of several invoices"
    AUTO_TOP_UP = "auto_top_up", "Automatic top-up"


class CardPaymentChannel(models.TextChoices):
    CHECKOUT = "checkout", "Stripe Checkout"
    OFF_SESSION = "off_session", "Saved card (off-session)"


class CardPaymentStatus(models.TextChoices):
    PENDING = "pending", "Awaiting payment"
    SUCCEEDED = "succeeded", "Paid"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


# A Checkout payment is open while its session can still be paid at Stripe: awaiting payment, or declined
# once (the session stays open for another card). At most one is open per invoice, and one per customer for
# top-ups (the partial unique indexes below); cancelling or expiring it expires the session at Stripe first.
OPEN_CHECKOUT_STATUSES = (CardPaymentStatus.PENDING, CardPaymentStatus.FAILED)
OPEN_CHECKOUT = Q(channel="checkout", status__in=["pending", "failed"])


class CardPaymentInvoiceOutcome(models.TextChoices):
    """What a succeeded invoice payment did with its credit (empty: not an invoice payment, or not paid)."""

    NONE = "", "-"
    PAID = "paid", "Paid the invoice"
    KEPT_AS_CREDIT = "kept_as_credit", "Kept as credit (the invoice was already paid or could not be paid)"


class CardPayment(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="card_payments")
    purpose = models.CharField(max_length=12, choices=CardPaymentPurpose.choices)
    channel = models.CharField(max_length=12, choices=CardPaymentChannel.choices)
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="card_payments", help_text="The invoice the credit then pays.")
    amount = MoneyField(help_text="What the customer asked for.")
    amount_charged = MoneyField(help_text="What the card is charged: the amount rounded up to the minor unit; "
                                          "all of it is credited.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=CardPaymentStatus.choices, default=CardPaymentStatus.PENDING)
    # Ours, sent as Stripe's Idempotency-Key: "card-payment:<pk>" or the caller's (auto top-up run) key.
    idempotency_key = models.CharField(max_length=120, unique=True)
    checkout_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    payment_method_id = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    # The customer's payment-settings choices made during an online top-up (DESIGN.md: trigger amount
    # and limit threshold are set by the customer); applied to the payment settings once the card is saved.
    save_card = models.BooleanField(default=False)
    trigger_amount = MoneyField(null=True, blank=True, default=None)
    limit_threshold = MoneyField(null=True, blank=True, default=None)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    invoice_payment_error = models.CharField(max_length=500, blank=True,
                                             help_text="Why the credit could not pay the invoice (it stays as credit).")
    # Set when an invoice payment is credited: the credit paid the invoice, or it stays as credit on the
    # account (the invoice was paid meanwhile, e.g. with credits in another tab); receipts read this.
    invoice_outcome = models.CharField(max_length=16, choices=CardPaymentInvoiceOutcome.choices, blank=True,
                                       default=CardPaymentInvoiceOutcome.NONE)
    # A payment for several invoices, once credited: how much of it stays as credit (credits first: the
    # invoices used older credits before this payment's; the rest of it, up to the charge, stays).
    amount_kept_as_credit = MoneyField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="When Stripe stops accepting payment on the Checkout Session.")
    credit_transaction = models.OneToOneField("customers.Transaction", on_delete=models.PROTECT, null=True,
                                              blank=True, related_name="card_payment")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField()
    credited_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            amount_gt_0("card_payment"),
            models.CheckConstraint(condition=Q(amount_charged__gte=models.F("amount")),
                                   name="card_payment_charged_gte_amount"),
            models.CheckConstraint(condition=Q(purpose="invoice", invoice__isnull=False)
                                   | (~Q(purpose="invoice") & Q(invoice__isnull=True)),
                                   name="card_payment_invoice_iff_purpose"),
            models.CheckConstraint(condition=Q(channel="checkout") | Q(checkout_session_id__isnull=True),
                                   name="card_payment_session_only_checkout"),
            # Credited exactly when paid: a succeeded payment has its credit, nothing else has one.
            models.CheckConstraint(
                condition=(Q(status="succeeded") & Q(credited_at__isnull=False) & Q(credit_transaction__isnull=False))
                | (~Q(status="succeeded") & Q(credited_at__isnull=True) & Q(credit_transaction__isnull=True)),
                name="card_payment_credited_iff_succeeded",
            ),
            models.CheckConstraint(
                condition=Q(save_card=False) | (Q(trigger_amount__gt=0) & Q(limit_threshold__gt=0)),
                name="card_payment_auto_top_up_choices",
            ),
            models.CheckConstraint(
                condition=Q(invoice_outcome="") | (Q(purpose__in=["invoice", "invoices"]) & Q(status="succeeded")),
                name="card_payment_outcome_only_paid_invoice",
            ),
            # One open Checkout per invoice, and one open Checkout top-up per customer: a second click
            # reuses the open session or expires it at Stripe first (no invoice charged twice).
            models.UniqueConstraint(fields=["invoice"], condition=OPEN_CHECKOUT & Q(purpose="invoice"),
                                    name="card_payment_one_open_checkout_per_invoice"),
            models.UniqueConstraint(fields=["customer"], condition=OPEN_CHECKOUT & Q(purpose="top_up"),
                                    name="card_payment_one_open_checkout_top_up"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="card_payment_customer_idx"),
            models.Index(fields=["status", "-created_at"], name="card_payment_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Card payment #{self.pk} {self.amount_charged} {self.currency} ({self.status})"

    @property
    def kept_as_credit(self) -> bool:
        """An invoice payment whose money stayed as credit on the account (the invoice was already paid)."""
        return self.invoice_outcome == CardPaymentInvoiceOutcome.KEPT_AS_CREDIT


class CardPaymentInvoice(models.Model):
    """An invoice a card payment is meant to pay, with the amount it still owed when the payment started.

    Every invoice payment has these rows: one for a single invoice (purpose `invoice`, which also keeps
    CardPayment.invoice), one per invoice for several (purpose `invoices`). `open` mirrors the payment's
    open Checkout (OPEN_CHECKOUT) and is cleared in the same transaction that closes or credits it
    (finance/services/cards.py), so the partial unique index holds the rule "at most one open Checkout per
    invoice" across single and multi payments. Once credited, `outcome` says what the credit did for this
    invoice and `amount_paid` how much of it went there."""

    card_payment = models.ForeignKey(CardPayment, on_delete=models.PROTECT, related_name="invoice_links")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, related_name="card_payment_links")
    amount = MoneyField(help_text="What the invoice still owed when the card payment started.")
    open = models.BooleanField(default=True)
    outcome = models.CharField(max_length=16, choices=CardPaymentInvoiceOutcome.choices, blank=True,
                               default=CardPaymentInvoiceOutcome.NONE)
    amount_paid = MoneyField(default=0, help_text="How much of the credit paid this invoice.")
    error = models.CharField(max_length=500, blank=True, help_text="Why the credit did not pay it.")

    class Meta:
        ordering = ["card_payment_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["card_payment", "invoice"], name="card_payment_invoice_once"),
            models.UniqueConstraint(fields=["invoice"], condition=Q(open=True),
                                    name="card_payment_invoice_one_open_checkout"),
            amount_gt_0("card_payment_invoice"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="card_payment_invoice_paid_gte_0"),
        ]

    def __str__(self) -> str:
        return f"Card payment #{self.card_payment_id} for invoice #{self.invoice_id}"

    @property
    def kept_as_credit(self) -> bool:
        return self.outcome == CardPaymentInvoiceOutcome.KEPT_AS_CREDIT


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (type not handled)"


class StripeEvent(models.Model):
    """Each Stripe event id is stored once (unique), however many times Stripe delivers it."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=255, blank=True, help_text="The Checkout Session or PaymentIntent.")
    livemode = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=StripeEventStatus.choices, default=StripeEventStatus.RECEIVED)
    payload = models.JSONField(default=dict)
    deliveries = models.PositiveIntegerField(default=1, help_text="How many times Stripe delivered it.")
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["type", "-received_at"], name="stripe_event_type_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"

    @property
    def processed(self) -> bool:
        return self.status != StripeEventStatus.RECEIVED


__all__ = ["OPEN_CHECKOUT", "OPEN_CHECKOUT_STATUSES", "CardPayment", "CardPaymentChannel", "CardPaymentInvoice",
           "CardPaymentInvoiceOutcome", "CardPaymentPurpose", "CardPaymentStatus", "StripeEvent", "StripeEventStatus"]
