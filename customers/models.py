"""The customer account, its immutable ledger, reservations, the master wallet, subscriptions and the
notifications log. Figures are defined in shared/DESIGN.md ("The customer account and its figures")."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Greatest

from .currencies import currency_iso
from .money import MoneyField, amount_gt_0


class AccountType(models.TextChoices):
    PREPAID = "prepaid", "Prepaid"
    POSTPAID = "postpaid", "Postpaid"


class InvoiceSetup(models.TextChoices):
    INDIVIDUAL = "individual", "Individual invoices + monthly usage invoice"
    CONSOLIDATED = "consolidated", "One consolidated invoice a month"
    NONE = "none", "No invoices"


# The customer list's search document: the words of the name and the code, lower-cased, accents removed (NFKD,
# then the combining marks U+0300-U+036F dropped), split on anything that is not a letter or digit, as a
# `simple` tsvector (no stemming, no stop words). The GIN index on it finds word prefixes ("logist:*") without
# reading the table; the query must use this exact expression to use the index (selectors.customer_search),
# and selectors.search_words normalises the typed text the same way. A plain SQL template (no parameters), so
# the index and the query compile to the same text.
SEARCH_DOCUMENT_SQL = (
    "to_tsvector('simple'::regconfig, regexp_replace(regexp_replace(normalize(lower(%(expressions)s), NFKD), "
    "'[\\u0300-\\u036f]', '', 'g'), '[^[:alnum:]]+', ' ', 'g'))"
)


def search_document() -> Func:
    # keyword arguments in the order the migration writer sorts them, or makemigrations sees a change
    return Func(F("name"), F("code"), arg_joiner=" || ' ' || ", output_field=SearchVectorField(),
                template=SEARCH_DOCUMENT_SQL)


def card_label(brand: str, last4: str) -> str:
    """A card as every page, email, receipt and audit text names it: "Visa ending 4242" ("" for no card)."""
    return f"{brand.title() or 'Card'} ending {last4}" if last4 else ""


class Customer(models.Model):
    """An organization that buys from the operator. The three running totals are the O(1) cache of its
    ledger; they change only in customers.ledger, under this row's lock, in the same transaction as the
    entries (check_ledger recomputes them from the rows)."""

    name = models.CharField(max_length=200)
    code = models.CharField(max_length=32, unique=True)
    billing_email = models.EmailField()
    currency = models.CharField(max_length=3, default="SGD")
    account_type = models.CharField(max_length=10, choices=AccountType.choices, default=AccountType.PREPAID)
    invoice_setup = models.CharField(max_length=12, choices=InvoiceSetup.choices, default=InvoiceSetup.INDIVIDUAL)
    credit_limit = MoneyField(help_text="How much a postpaid account may borrow against unbilled usage.")
    show_invoices_tab = models.BooleanField(default=True, help_text="Portal setting: show the Invoices tab.")
    # Stripe: the customer's Stripe id and the card saved for off-session (auto) top-ups.
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    stripe_payment_method_id = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The saved card's expiry month.")
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The saved card's expiry year.")
    # Running totals (cache of the ledger).
    amount_unbilled = MoneyField(editable=False, help_text="Expecting invoice: sum of unbilled entries.")
    amount_due = MoneyField(editable=False, help_text="Amount due: sum of entries on the billed side.")
    amount_reserved = MoneyField(editable=False, help_text="Reserved credits: sum of open reservations.")
    # Usable credits (DESIGN.md), the one definition: a stored column PostgreSQL computes from the four it reads,
    # so Python, the ORM and SQL (the reservation functions, the auto top-up job) all read this column. An
    # instance holds it as loaded: after an UPDATE of the totals, refresh it (RUNNING_TOTALS below).
    usable_credits = models.GeneratedField(
        expression=F("credit_limit") + F("amount_unbilled") + Greatest("amount_due", Value(0)) - F("amount_reserved"),
        output_field=MoneyField(), db_persist=True,
        help_text="Usable credits: credit limit + expecting invoice + max(amount due, 0) - reserved credits.")
    created_at = models.DateTimeField(auto_now_add=True)

    # What a service refreshes after moving the totals with F(): the totals and the column computed from them.
    RUNNING_TOTALS = ("amount_unbilled", "amount_due", "amount_reserved", "usable_credits")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="customer_credit_limit_gte_0"),
            models.CheckConstraint(condition=Q(amount_reserved__gte=0), name="customer_reserved_gte_0"),
            models.CheckConstraint(condition=Q(account_type=AccountType.POSTPAID) | Q(credit_limit=0),
                                   name="customer_prepaid_no_credit_limit"),
            currency_iso("customer"),
            models.CheckConstraint(condition=~Q(code=""), name="customer_code_not_empty"),
        ]
        indexes = [
            models.Index(fields=["account_type", "invoice_setup"], name="customer_type_setup_idx"),
            GinIndex(search_document(), name="customer_search_idx"),
            models.Index(fields=["currency"], name="customer_currency_idx"),  # selectors.currencies
            # the customer list's order and its name sort, read either way (its code sort: the code's index)
            models.Index(fields=["name", "id"], name="customer_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    # The figures (DESIGN.md). Signs: + is CR (in the customer's favour), - is DR.
    @property
    def expecting_invoice(self) -> Decimal:
        return self.amount_unbilled

    @property
    def current_balance(self) -> Decimal:
        return self.amount_unbilled + self.amount_due


class TransactionKind(models.TextChoices):
    # usage (unbilled until the monthly tax invoice, whatever the setup)
    CALL = "call", "Call"
    SMS = "sms", "SMS"
    FAX = "fax", "Fax"
    NUMBER_ACTIVATION = "number_activation", "Number activation fee"
    # purchases (billed at once by a purchase invoice for `individual` customers)
    SUBSCRIPTION = "subscription", "Subscription"
    ADD_ON = "add_on", "Add-on"
    SERVICE = "service", "Service"
    HARDWARE = "hardware", "Hardware"
    # credit and money movements
    TOP_UP = "top_up", "Top-up"
    TOP_UP_REMOVAL = "top_up_removal", "Top-up removed"
    TRANSFER = "transfer", "Transfer from master account"
    PAYMENT = "payment", "Payment assigned"
    PAYMENT_UNASSIGNED = "payment_unassigned", "Payment un-assigned"
    INVOICE = "invoice", "Invoice issued"
    INVOICE_VOID = "invoice_void", "Invoice voided"
    CREDIT_NOTE = "credit_note", "Credit note"
    CREDIT_APPLIED = "credit_applied", "Credit applied to an invoice"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    ADJUSTMENT = "adjustment", "Adjustment"


USAGE_KINDS = frozenset({TransactionKind.CALL, TransactionKind.SMS, TransactionKind.FAX,
                         TransactionKind.NUMBER_ACTIVATION})
PURCHASE_KINDS = frozenset({TransactionKind.SUBSCRIPTION, TransactionKind.ADD_ON, TransactionKind.SERVICE,
                            TransactionKind.HARDWARE})
# The charges: what charge_post posts, and what the transactions tab offers to reverse (other kinds are
# corrected in the app that owns them: finance, invoices)
CHARGE_KINDS = USAGE_KINDS | PURCHASE_KINDS


class Bucket(models.TextChoices):
    """Which figure an entry counts in while it stands: the unbilled side (Expecting invoice) or the
    billed side (Amount due). An unbilled entry leaves Expecting invoice when an invoice bills it."""

    UNBILLED = "unbilled", "Expecting invoice"
    DUE = "due", "Amount due"


class Transaction(models.Model):
    """An immutable ledger entry. The database refuses DELETE, and UPDATE of anything except the one-way
    billing mark (billed_at / billed_document from empty to set). Corrections are opposite entries."""

    # Not indexed on its own: txn_customer_time_idx and txn_customer_kind_idx lead with customer (bench issue 9:
    # every index is one more write on the ledger's hot path).
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    kind = models.CharField(max_length=24, choices=TransactionKind.choices)
    bucket = models.CharField(max_length=8, choices=Bucket.choices)
    amount = MoneyField(editable=False)
    occurred_at = models.DateTimeField()
    posted_at = models.DateTimeField(auto_now_add=True)
    reference = models.CharField(max_length=120, blank=True)
    description = models.CharField(max_length=255, blank=True)
    # What caused it: "finance.payment", "invoices.invoice", "customers.reservation", ... and its id.
    source_type = models.CharField(max_length=40, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True)  # unique: txn_idempotency_key_unique
    # Indexed by the partial unique txn_reversed_once (reverses IS NOT NULL), which serves every lookup by it.
    reverses = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 db_index=False)
    billed_at = models.DateTimeField(null=True, blank=True)
    billed_document = models.CharField(max_length=40, blank=True, help_text="Number of the invoice that billed it.")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="txn_customer_time_idx"),
            models.Index(fields=["customer", "kind"], name="txn_customer_kind_idx"),
            models.Index(fields=["source_type", "source_id"], name="txn_source_idx"),
            models.Index(fields=["customer", "occurred_at"], name="txn_unbilled_idx",
                         condition=Q(bucket="unbilled", billed_at__isnull=True)),
        ]
        constraints = [
            # A constraint rather than unique=True: no second (LIKE pattern) index nobody searches with.
            models.UniqueConstraint(fields=["idempotency_key"], name="txn_idempotency_key_unique"),
            # A correction reverses an entry in full, once (a second reversal would double the correction).
            models.UniqueConstraint(fields=["reverses"], condition=Q(reverses__isnull=False),
                                    name="txn_reversed_once"),
            # Only the unbilled side is ever billed by an invoice.
            models.CheckConstraint(condition=Q(billed_at__isnull=True) | Q(bucket="unbilled"),
                                   name="txn_only_unbilled_is_billed"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.customer_id}"


class ReservationStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMMITTED = "committed", "Committed"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    """Credits held for a call or SMS in flight (a two-phase transfer): reserve, then exactly one of
    commit, release or expiry."""

    # Not indexed on its own: reservation_customer_idx leads with customer.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="reservations", db_index=False)
    kind = models.CharField(max_length=24, choices=TransactionKind.choices, default=TransactionKind.CALL)
    amount = MoneyField()
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.OPEN)
    reference = models.CharField(max_length=120, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True)  # reservation_idempotency_key_unique
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    committed_amount = MoneyField(null=True, blank=True, default=None)
    charge = models.OneToOneField(Transaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="reservation_idempotency_key_unique"),
            amount_gt_0("reservation"),
            models.CheckConstraint(
                condition=Q(committed_amount__isnull=True) | Q(committed_amount__lte=models.F("amount")),
                name="reservation_commit_lte_amount",
            ),
            # Open <=> not resolved; committed <=> a final amount (its charge, when non-zero, is `charge`).
            models.CheckConstraint(
                condition=(Q(status="open") & Q(resolved_at__isnull=True))
                | (~Q(status="open") & Q(resolved_at__isnull=False)),
                name="reservation_open_unresolved",
            ),
            models.CheckConstraint(
                condition=(Q(status="committed") & Q(committed_amount__isnull=False) & Q(committed_amount__gte=0))
                | (~Q(status="committed") & Q(committed_amount__isnull=True) & Q(charge__isnull=True)),
                name="reservation_committed_amount",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")),
                                   name="reservation_expires_after_created"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="reservation_open_expiry_idx", condition=Q(status="open")),
            models.Index(fields=["customer", "status"], name="reservation_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} {self.amount} ({self.status})"


class MasterWallet(models.Model):
    """The operator's own wallet, from which credit can be issued to customers. Never below zero."""

    name = models.CharField(max_length=100, unique=True, default="Master account")
    currency = models.CharField(max_length=3, default="SGD")
    balance = MoneyField(editable=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="master_wallet_balance_gte_0"),
                       currency_iso("master_wallet")]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class MasterWalletEntry(models.Model):
    """Immutable movement on the master wallet; a transfer to a customer has its ledger leg in `transaction`."""

    wallet = models.ForeignKey(MasterWallet, on_delete=models.PROTECT, related_name="entries")
    amount = MoneyField(editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="master_wallet_entry")
    reference = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "master wallet entries"
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="master_wallet_entry_not_zero")]

    def __str__(self) -> str:
        return f"{self.wallet.name} {self.amount}"


class Subscription(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    product = models.CharField(max_length=120)
    # Declaration order, not the frozenset's: a set's order changes with the hash seed, which made
    # makemigrations write a new migration on every run.
    kind = models.CharField(max_length=24, choices=[(k.value, k.label) for k in TransactionKind if k in PURCHASE_KINDS],
                            default=TransactionKind.SUBSCRIPTION)
    quantity = models.PositiveIntegerField(default=1)
    period_months = models.PositiveSmallIntegerField(default=1)
    renewal_date = models.DateField()
    renewal_price = MoneyField()
    renewal_cost = MoneyField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["renewal_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(renewal_price__gte=0), name="subscription_price_gte_0"),
            models.CheckConstraint(condition=Q(renewal_cost__gte=0), name="subscription_cost_gte_0"),
            models.CheckConstraint(condition=Q(quantity__gte=1) & Q(period_months__gte=1),
                                   name="subscription_quantity_period_gte_1"),
        ]
        indexes = [models.Index(fields=["renewal_date"], name="subscription_due_idx", condition=Q(is_active=True))]

    def __str__(self) -> str:
        return f"{self.product} x{self.quantity}"

    @property
    def margin(self) -> Decimal:
        return self.renewal_price - self.renewal_cost


class NotificationKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"
    TWO_FACTOR_CODE = "two_factor_code", "2FA code"
    VERIFICATION_EMAIL = "verification_email", "Verification email"
    SUBSCRIPTION_NOTICE = "subscription_notice", "Subscription notice"
    TOP_UP = "top_up", "Top-up"
    TOP_UP_FAILED = "top_up_failed", "Top-up failed"
    PAYMENT_RECEIPT = "payment_receipt", "Payment receipt"


class Notification(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    channel = models.CharField(max_length=10, choices=[("email", "Email"), ("sms", "SMS")], default="email")
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=[("sent", "Sent"), ("failed", "Failed"), ("queued", "Queued")],
                              default="sent")
    source_type = models.CharField(max_length=40, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["customer", "-sent_at"], name="notification_customer_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient}"


class CustomerUser(models.Model):
    """A portal user: belongs to exactly one customer. Staff users never have one."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_membership")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="users")

    def __str__(self) -> str:
        return f"{self.user} @ {self.customer.code}"
