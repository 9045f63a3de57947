"""What a customer may see of the audit trail: the one allow-list (docs/portal.md, "The audit trail").

The trail (audit.AuditEvent) is written for the finance team: before/after hold whatever a service found
useful, operator-side figures included (the master wallet's balance, a subscription's cost and margin,
Stripe ids, remarks). The portal shows a customer only

- events whose action is in SHOWN (an action missing from it is not shown at all: a new action is hidden
  until someone decides what of it a customer may read);
- of those, only the fields SHOWN lists for the action, under its words (a field not listed is never
  shown, whatever a service starts recording);
- no invoice event while the invoice is a draft (see `is_draft_event`).

HIDDEN names the actions that carry a customer's id and are deliberately not shown, with the reason, so
that every action is a decision (tests/portal/test_audit_visibility.py walks every service and fails on an
action that is in neither). The event's `reason`, IP, user agent and request id are never shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Q, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact

from customers.models import AccountType, InvoiceSetup, NotificationKind, TransactionKind
from customers.money import display
from finance.models import CardPaymentPurpose, CardPaymentStatus, PaymentMethod, TopUpMethod
from invoices.models import InvoiceStatus, InvoiceType

Show = Callable[[object, str], str]  # (a value from before/after, the customer's currency) -> the words shown


def text(value: object, currency: str) -> str:
    return "" if value is None else str(value)


def money(value: object, currency: str) -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{display(amount)} {currency}"


def text_or_none(value: object, currency: str) -> str:
    return str(value) if value else "None"


def yes_no(value: object, currency: str) -> str:
    return "Yes" if value else "No"


def choice(*choices: type) -> Show:
    """A stored code in the words of the model's choices (`bank_transfer` -> `Bank transfer`)."""
    labels: dict[str, str] = {}
    for c in choices:
        labels.update({str(k): str(v) for k, v in c.choices})

    def show(value: object, currency: str) -> str:
        return "" if value is None else labels.get(str(value), str(value))

    return show


def invoice_allocations(value: object, currency: str) -> str:
    """finance.payment.allocate's list of allocations: `INV-2026-000001: 30.00 SGD; ...`."""
    if not isinstance(value, list):
        return ""
    return "; ".join(f"{a.get('invoice', '')}: {money(a.get('amount'), currency)}" for a in value
                     if isinstance(a, dict))


def invoices_paid(value: object, currency: str) -> str:
    """A card payment for several invoices, once credited: `INV-2026-000001: paid 30.00 SGD; INV-2026-000002:
    already paid, its share stays as credit`."""
    if not isinstance(value, list):
        return ""
    return "; ".join(
        f"{a.get('invoice', '')}: paid {money(a.get('amount'), currency)}" if a.get("outcome") == "paid"
        else f"{a.get('invoice', '')}: already paid, its share stays as credit"
        for a in value if isinstance(a, dict))


def invoice_numbers(value: object, currency: str) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else ""


NOTIFICATION_STATUS = {"sent": "Sent", "failed": "Failed", "queued": "Queued"}


def notification_status(value: object, currency: str) -> str:
    return NOTIFICATION_STATUS.get(str(value), str(value))


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    show: Show = text
    now_only: bool = False  # show what it is after the event, not what it was (an invoice issued: not "Draft ->")


@dataclass(frozen=True)
class Shown:
    label: str
    fields: tuple[Field, ...] = field(default=())

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields]


AMOUNT = Field("amount", "Amount", money)
USABLE = Field("usable_credits", "Usable credits", money)
INVOICE = Field("invoice", "Invoice")
NUMBER = Field("number", "Invoice")
TOTAL = Field("total", "Total", money)
INVOICE_STATUS = Field("status", "Status", choice(InvoiceStatus))
ISSUED_STATUS = Field("status", "Status", choice(InvoiceStatus), now_only=True)
INVOICE_TYPE = Field("type", "Type", choice(InvoiceType))
ACCOUNT = (Field("name", "Name"), Field("code", "Account code"), Field("billing_email", "Billing email"),
           Field("currency", "Currency"), Field("account_type", "Account type", choice(AccountType)),
           Field("invoice_setup", "Invoices", choice(InvoiceSetup)), Field("credit_limit", "Credit limit", money),
           Field("show_invoices_tab", "Invoices tab in the portal", yes_no))
SUBSCRIPTION = (Field("product", "Product"), Field("kind", "Type", choice(TransactionKind)),
                Field("quantity", "Quantity"), Field("period_months", "Months per period"),
                Field("renewal_price", "Renewal price", money), Field("renewal_date", "Next renewal"),
                Field("is_active", "Active", yes_no))
PAYMENT = (AMOUNT, Field("method", "Method", choice(PaymentMethod)), Field("reference", "Reference"),
           Field("received_date", "Received"), Field("invoice_number", "Invoice # given"))
PAYMENT_SETTINGS = (Field("method", "Top-up method", choice(TopUpMethod)),
                    Field("trigger_amount", "Top-up amount", money),
                    Field("limit_threshold", "Top up when usable credits fall to", money),
                    Field("auto_top_up_enabled", "Automatic top-up", yes_no))
CARD_STATUS = Field("status", "Status", choice(CardPaymentStatus))
EMAIL = (Field("recipient", "To"), Field("subject", "Subject"), Field("status", "Email", notification_status))

# action -> what the customer reads: its label and the fields (in this order) they may see.
SHOWN: dict[str, Shown] = {
    # access (the customer's own portal users; staff sign-ins carry no customer)
    "access.sign_in": Shown("Signed in to the portal"),
    "access.sign_out": Shown("Signed out of the portal"),
    # the account
    "customers.customer.create": Shown("Account opened", ACCOUNT),
    "customers.customer.update": Shown("Account details changed", ACCOUNT),
    "customers.customer_user.create": Shown("Portal user added", (Field("username", "User"),
                                                                   Field("email", "Email"))),
    "customers.subscription.create": Shown("Subscription added", SUBSCRIPTION),
    "customers.subscription.update": Shown("Subscription changed", SUBSCRIPTION),
    "invoices.subscription.renew": Shown("Subscription renewed", (
        Field("period", "Period"), Field("charge", "Charged", money), INVOICE,
        Field("renewal_date", "Next renewal"))),
    "customers.notification.record": Shown("Message sent", (
        Field("kind", "Type", choice(NotificationKind)), Field("channel", "Channel"), *EMAIL)),
    # usage and credits
    "customers.charge.post": Shown("Charge", (Field("kind", "Type", choice(TransactionKind)), AMOUNT,
                                              Field("reference", "Reference"), USABLE)),
    "customers.charge.post_batch": Shown("Usage charges", (
        Field("total", "Total", money), Field("lines", "Charges"), Field("batch_reference", "Reference"),
        USABLE)),
    "customers.reservation.commit": Shown("Reserved credits charged", (
        Field("committed_amount", "Charged", money), Field("released", "Released", money), USABLE)),
    "customers.adjustment.post": Shown("Adjustment", (AMOUNT, USABLE)),
    "customers.master_wallet.transfer": Shown("Master account transfer", (AMOUNT, USABLE)),
    # payments and top-ups
    "finance.payment.record": Shown("Payment received", PAYMENT),
    "finance.payment.update": Shown("Payment corrected", PAYMENT),
    "finance.payment.delete": Shown("Payment removed", (AMOUNT,)),
    "finance.payment.assign": Shown("Payment assigned to your account", (AMOUNT,)),
    "finance.payment.unassign": Shown("Payment taken off your account", (AMOUNT,)),
    "finance.payment.allocate": Shown("Payment allocated to invoices", (
        Field("amount", "Payment", money), Field("amount_allocated", "Allocated", money),
        Field("allocations", "Invoices", invoice_allocations))),
    "finance.allocation.reverse": Shown("Allocation reversed", (
        INVOICE, Field("amount_allocated", "Allocated from the payment", money),
        Field("invoice_amount_paid", "Paid on the invoice", money))),
    "finance.payment.top_up": Shown("Payment turned into credits", (
        Field("amount", "Payment", money), Field("top_up_amount", "Credits", money))),
    "finance.top_up.remove": Shown("Top-up removed", (
        Field("amount", "Payment", money), Field("amount_allocated", "Allocated", money),
        Field("amount_topped_up", "Topped up", money), Field("invoice_status", "Invoice", choice(InvoiceStatus)))),
    # bank statements (banking.services.reconcile): the bank's line matched to a payment received or a withdrawal
    "banking.line.confirm": Shown("Bank statement matched", (
        Field("amount", "Amount", money), Field("allocations", "Invoices", invoice_allocations))),
    "banking.line.undo": Shown("Bank statement match undone", (
        Field("allocations_undone", "Invoices", invoice_allocations),)),
    "finance.credit_note.issue": Shown("Credit note issued", (
        Field("number", "Credit note"), INVOICE, AMOUNT,
        Field("invoice_status", "Invoice status", choice(InvoiceStatus)))),
    "finance.withdrawal.record": Shown("Withdrawal paid out", (
        AMOUNT, Field("method", "Method", choice(PaymentMethod)), Field("reference", "Reference"))),
    "finance.invoice.pay_with_credits": Shown("Invoice paid with credits", (
        Field("amount_paid", "Paid", money), Field("from_credit", "From credits", money),
        Field("from_payments", "From payments", money), INVOICE_STATUS)),
    "finance.invoices.pay_with_credits": Shown("Invoices paid with credits", (
        Field("invoices", "Invoices", invoice_allocations), Field("total", "Total", money),
        Field("credits", "Credits", money))),
    # card payments
    "finance.card_payment.start": Shown("Card payment started", (
        AMOUNT, Field("amount_charged", "Charged to the card", money),
        Field("purpose", "For", choice(CardPaymentPurpose)), INVOICE, Field("invoices", "Invoices", invoice_numbers),
        Field("save_card", "Save the card", yes_no),
        Field("trigger_amount", "Top-up amount", money),
        Field("limit_threshold", "Top up when usable credits fall to", money))),
    "finance.card_payment.fulfil": Shown("Card payment received", (
        Field("credited", "Credited", money), Field("card", "Card"), CARD_STATUS, INVOICE,
        Field("invoices", "Invoices", invoices_paid), Field("kept_as_credit", "Stays as credit", money),
        Field("invoice_payment_error", "Invoice not paid"), Field("card_saved", "Card saved", yes_no), USABLE)),
    "finance.card_payment.fail": Shown("Card payment failed", (CARD_STATUS, Field("failure_reason", "Reason"))),
    "finance.card_payment.cancel": Shown("Card payment cancelled", (CARD_STATUS,)),
    # (expire and start_failed come with the card payments work of issue 19: an open Checkout that Stripe
    # expired, and a Checkout the processor refused to open; its raw error stays in the log and our trail)
    "finance.card_payment.expire": Shown("Card payment expired", (CARD_STATUS,)),
    "finance.card_payment.start_failed": Shown("Card payment could not be started", (AMOUNT, INVOICE)),
    "finance.card_payment.receipt_email": Shown("Card payment receipt emailed", EMAIL),
    "finance.saved_card.remove": Shown("Saved card removed", (
        Field("card", "Card", text_or_none), Field("auto_top_up_enabled", "Automatic top-up", yes_no))),
    # payment settings and the daily automatic top-up
    "finance.payment_settings.update": Shown("Payment settings changed", PAYMENT_SETTINGS),
    "finance.payment_settings.update_from_portal": Shown("Payment settings changed", PAYMENT_SETTINGS),
    "finance.payment_settings.switch_from_portal": Shown("Automatic top-up switched", PAYMENT_SETTINGS),
    "finance.auto_top_up.fire": Shown("Automatic top-up", (
        AMOUNT, Field("method", "Method", choice(TopUpMethod)), INVOICE)),
    "finance.auto_top_up.fail": Shown("Automatic top-up failed", (
        AMOUNT, Field("method", "Method", choice(TopUpMethod)))),
    "finance.auto_top_up.notice": Shown("Automatic top-up email", EMAIL),
    # invoices (never while a draft: see is_draft_event)
    "invoices.invoice.create": Shown("Invoice created", (
        NUMBER, INVOICE_TYPE, Field("name", "Name"), TOTAL, Field("issue_date", "Issued"),
        Field("due_date", "Due"), INVOICE_STATUS)),
    "invoices.invoice.send": Shown("Invoice issued and emailed", (
        NUMBER, INVOICE_TYPE, TOTAL, ISSUED_STATUS, Field("emailed_to", "Emailed to"))),
    "invoices.invoice.resend": Shown("Invoice emailed again", (NUMBER, Field("emailed_to", "Emailed to"))),
    "invoices.invoice.mark_sent": Shown("Invoice issued", (NUMBER, INVOICE_TYPE, TOTAL, ISSUED_STATUS)),
    "invoices.invoice.email": Shown("Invoice emailed", EMAIL),
    "invoices.invoice.void": Shown("Invoice voided", (NUMBER, TOTAL, INVOICE_STATUS)),
    "invoices.invoice.bill_monthly": Shown("Monthly invoice issued", (
        NUMBER, Field("period", "Period"), Field("subtotal", "Subtotal", money), Field("tax", "Tax", money),
        TOTAL, Field("amount_paid", "Paid from credits", money), INVOICE_STATUS)),
}

# action -> why a customer does not see it.
HIDDEN: dict[str, str] = {
    "access.sign_in_failed": "a failed sign-in names no customer (the username may be anyone's)",
    "customers.master_wallet.create": "the operator's master wallet: no customer's event",
    "settings.api_key.create": "the operator's API keys for the telephony platform: no customer's event",
    "settings.api_key.revoke": "the operator's API keys for the telephony platform: no customer's event",
    "customers.master_wallet.fund": "the operator's master wallet and its balance: no customer's event",
    "finance.auto_top_up.run_start": "the daily job's run as a whole, about no one customer",
    "finance.auto_top_up.run_finish": "the daily job's run as a whole, about no one customer",
    "finance.auto_top_up.run_now": "staff asking for the daily job's run now, about no one customer",
    "invoices.billing_run.start": "the monthly job's run as a whole, about no one customer; each invoice it "
                                  "issues is shown (invoices.invoice.bill_monthly)",
    "banking.line.choose_customer": "staff naming who a bank line is probably from, before anything is "
                                    "recorded; the match itself is shown (banking.line.confirm)",
    "customers.reservation.reserve": "a hold on credits while a call or message is in flight; what it costs "
                                     "is shown when it is charged (customers.reservation.commit)",
    "customers.reservation.release": "the end of a hold that charged nothing: the account is as before it",
    "customers.reservation.expire": "the end of a hold that charged nothing (the platform never resolved it)",
    "finance.auto_top_up.claim": "the job's claim of the day before the saved card is charged; the outcome is "
                                 "shown (finance.auto_top_up.fire / .fail, the card payment)",
    "finance.card_payment.charge_unconfirmed": "an off-session charge Stripe refused or did not answer: the row "
                                                "stays pending and is tried again; the outcome is shown "
                                                "(finance.card_payment.fulfil / .fail)",
    "finance.stripe_event.process": "our bookkeeping of Stripe's webhook deliveries (event ids, processing "
                                    "results) that changed no card payment",
}

DRAFT_OBJECT_TYPE = "invoices.invoice"


# The Object column. audit_record stores str(obj) for the finance team ("Payment #12 30.000000 SGD", "Payment
# settings of customer 20"): our row ids and ledger amounts with 6 decimals. The customer reads the object in
# their words instead, built from the stored text by the rule for its object type: only the named parts of
# the pattern are shown (money through customers.money.display). An object type without a rule, or a stored
# text its pattern does not match, shows the rule's noun or nothing (this list is an allow-list too).
@dataclass(frozen=True)
class ObjectShown:
    noun: str
    pattern: str = ""  # a full match of the stored text; its named groups fill `words`
    words: str = ""
    money: tuple[str, ...] = ()  # the groups that are amounts

    def show(self, stored: str, currency: str) -> str:
        match = re.fullmatch(self.pattern, stored) if self.pattern else None
        if match is None:
            return self.noun
        parts = {k: (_amount(v) if k in self.money else v) for k, v in match.groupdict().items()}
        return self.words.format(**{"currency": currency, **parts})


def _amount(value: str) -> str:
    try:
        return display(Decimal(value))
    except InvalidOperation:
        return ""


AS_STORED = r"(?P<text>.+)"  # the stored text is already the customer's words (their name, an invoice number)
NUM = r"-?\d+(?:\.\d+)?"
OBJECTS: dict[str, ObjectShown] = {
    "customers.customer": ObjectShown("Your account", AS_STORED, "{text}"),  # "Acme Pte Ltd (ACME)"
    "customers.customeruser": ObjectShown("Portal user", r"(?P<user>.+) @ [^@]+", "Portal user {user}"),
    "customers.notification": ObjectShown("Message", AS_STORED, "{text}"),  # "Invoice to billing@acme.example"
    "customers.subscription": ObjectShown("Subscription", AS_STORED, "{text}"),  # "SIP trunk x1"
    "customers.transaction": ObjectShown(
        "Transaction", rf"(?P<kind>.+?) (?P<amount>{NUM}) \d+", "{kind} {amount} {currency}", ("amount",)),
    "customers.reservation": ObjectShown(
        "Reserved credits", rf"Reservation \d+ (?P<amount>{NUM}) \(\w+\)", "Reserved credits {amount} {currency}",
        ("amount",)),
    "finance.payment": ObjectShown(
        "Payment", rf"Payment #\d+ (?P<amount>{NUM}) (?P<currency>[A-Z]{{3}})", "Payment {amount} {currency}",
        ("amount",)),
    "finance.cardpayment": ObjectShown(
        "Card payment", rf"Card payment #\d+ (?P<amount>{NUM}) (?P<currency>[A-Z]{{3}}) \(\w+\)",
        "Card payment {amount} {currency}", ("amount",)),
    "finance.withdrawal": ObjectShown(
        "Withdrawal", rf"Withdrawal #\d+ (?P<amount>{NUM}) (?P<currency>[A-Z]{{3}})", "Withdrawal {amount} {currency}",
        ("amount",)),
    "finance.autotopup": ObjectShown(
        "Automatic top-up", r"Auto top-up (?P<day>\d{4}-\d{2}-\d{2}) customer \d+ \(\w+\)",
        "Automatic top-up of {day}"),
    "finance.paymentsettings": ObjectShown("Payment settings"),
    "finance.creditnote": ObjectShown("Credit note", r"(?P<number>[A-Z]+-\d{4}-\d+)", "{number}"),
    "invoices.invoice": ObjectShown("Invoice", AS_STORED, "{text}"),  # "INV-2026-000001 Purchase"
}


def object_shown(object_type: str, stored: str, currency: str) -> str:
    """The Object column in the customer's words: no row ids, money as money (see OBJECTS)."""
    rule = OBJECTS.get(object_type)
    if rule is None or not stored:
        return ""
    return rule.show(stored, currency)


def shown(action: str) -> Shown | None:
    return SHOWN.get(action)


def label(action: str) -> str:
    entry = SHOWN.get(action)
    return entry.label if entry else ""


MISSING = object()


def changes(action: str, before: dict | None, after: dict | None, currency: str) -> list[tuple[str, str, str]]:
    """(label, before, after) of each field the customer may see, in the allow-list's order. A field that
    changed reads before -> after; one that only states a fact (the payment's amount when it is assigned,
    or what a deletion removed) has an empty before."""
    entry = SHOWN.get(action)
    if entry is None:
        return []
    before, after = before or {}, after or {}
    rows = []
    for f in entry.fields:
        b, a = before.get(f.key, MISSING), after.get(f.key, MISSING)
        if a is MISSING and b is MISSING:
            continue
        if a is MISSING:
            rows.append((f.label, "", f.show(b, currency)))
        elif b is MISSING or b == a or f.now_only:
            rows.append((f.label, "", f.show(a, currency)))
        else:
            rows.append((f.label, f.show(b, currency), f.show(a, currency)))
    return [r for r in rows if r[2] != "" or r[1] != ""]


def actions_labelled(q: str) -> list[str]:
    """The shown actions whose label contains q (case-insensitive): the search finds what the page says."""
    q = q.casefold()
    return [action for action, entry in SHOWN.items() if q in entry.label.casefold()]


def is_draft_event() -> Q:
    """An invoice event while the invoice is a draft: it leaves the invoice a draft (created or edited as
    one), or it removes a draft (before: draft; after: no status). Issuing it (draft -> sent) is shown."""
    draft = Value("draft", output_field=TextField())
    after_status = Coalesce(KT("after__status"), Value(""), output_field=TextField())
    before_status = Coalesce(KT("before__status"), Value(""), output_field=TextField())
    return Q(object_type=DRAFT_OBJECT_TYPE) & (
        Q(Exact(after_status, draft)) | (Q(Exact(before_status, draft)) & ~Q(after__has_key="status")))


def visible() -> Q:
    """The events a customer may see: a SHOWN action with at least one of its fields recorded (an update
    of only hidden fields, such as a subscription's cost, is not shown as an empty change), never a draft's."""
    bare = [action for action, entry in SHOWN.items() if not entry.fields]
    rule = Q(action__in=bare)
    for action, entry in SHOWN.items():
        if entry.fields:
            rule |= Q(action=action) & (Q(before__has_any_keys=entry.keys) | Q(after__has_any_keys=entry.keys))
    return rule & ~is_draft_event()
