"""Payment settings and the daily auto top-up. DESIGN.md "Payment settings and the daily auto top-up",
seeds/001 (Organization Management), docs/auto-top-up.md.

Rules (decided):
- A customer with auto top-up on whose usable credits are at or below the limit threshold gets ONE top-up
  of the trigger amount a day: cheque/TT -> a top-up invoice issued and sent; card -> an off-session
  charge of the saved card, credited when it succeeds; master account -> credit from the operator's
  master wallet in the customer's currency (never below zero).
- At most once per customer per calendar day (the operator's), by the unique key (customer, run_date) of
  AutoTopUp: the row is claimed (inserted, ON CONFLICT DO NOTHING) under the customer's lock before
  anything is done, so a second beat, a redelivered task or a second worker finds it and stops.
- While an auto top-up invoice from an earlier day is still awaiting payment, no other top-up is made
  (whatever the method: the money asked for is on its way).
- A failure (card declined or needing authentication, master wallet too low, invoice refused) is recorded
  on the day's row with its reason, audited, notified to the customer, and not retried that day.

Crash safety. Cheque/TT and master-account top-ups happen in ONE short transaction (claim, act, record):
a worker killed halfway leaves nothing, and the redelivered task does the whole top-up. A card top-up
cannot hold a transaction open across Stripe, so it has two phases: the claim commits first (status
pending), then Stripe is called with the idempotency key "auto-top-up:<customer>:<date>" (also the
CardPayment's unique key), then the outcome is recorded in a second short transaction. A worker killed
between the phases leaves a pending row, which the next delivery RESUMES (same key: Stripe returns the
same PaymentIntent, the CardPayment is credited once) instead of skipping it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings as django_settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record, audit_record_many
from customers.locks import lock_customer, lock_customers
from customers.models import Customer, Notification, NotificationKind, card_label
from customers.money import display, max_top_up
from customers.selectors import default_wallet
from customers.services import WalletError, WalletTooLowError, master_wallet_transfer, notification_record
from invoices.services.lifecycle import (
    DuplicateInvoiceError,
    InvoiceError,
    TopUpToSend,
    invoice_create_top_up,
    invoice_send,
    invoice_top_ups_send_many,
)

from ..auto_top_up.selectors import (
    CANDIDATE,
    RunProgress,
    auto_top_up_classification,
    auto_top_up_key,
    card_choices,
    classify_and_log_skips,
    run_counts,
    run_progress,
)
from ..locks import lock_auto_top_up_requests
from ..models import (
    AutoTopUp,
    AutoTopUpChunk,
    AutoTopUpChunkStatus,
    AutoTopUpDecision,
    AutoTopUpRun,
    AutoTopUpStatus,
    AutoTopUpTrigger,
    CardPayment,
    CardPaymentStatus,
    PaymentSettings,
    TopUpDecision,
    TopUpMethod,
)
from ._common import FinanceError, checked_amount, label, when
from .cards import CardPaymentError, card_charge_off_session

logger = logging.getLogger(__name__)

APP = "finance"
SOURCE_TYPE = "finance.autotopup"
JOB_LABEL = "auto-top-up"
DECISION_CHUNK = 100  # a chunk's decisions are bulk-inserted this many at a time (the progress staff see)
CHUNK_SIZE = 250  # candidates per chunk: one Celery task each
# Candidates decided together in one transaction (_top_up_batch): a chunk's, normally. The cheque/TT top-ups among
# them are done there with a few statements per batch; the others are handled one by one after it commits.
BATCH_SIZE = 250
# True while a chunk runs: its notices are queued in one task when it ends, not one task per notice.
_chunk_sends_notices: ContextVar[bool] = ContextVar("auto_top_up_chunk_sends_notices", default=False)

# The audit walk (tests/audit) holds each service to exactly one event per call. These two are the job's
# orchestrators, not single changes: each step they take is its own audited change (their own events
# finance.auto_top_up.claim / .fire / .fail and .run_start / .run_finish, beside the events of the services
# they call: the transfer, the invoice, the card charge, the notification). Which events each path writes
# is asserted in tests/finance/test_auto_top_up.py (TestAuditTrail).
AUDIT_EXEMPT = {
    "auto_top_up_customer": "orchestrator: one customer's day through other audited services, each of its own "
                            "changes audited once (claim, fire, fail); see TestAuditTrail",
    "run_daily_auto_top_up": "orchestrator: auto_top_up_run_begin then auto_top_up_run_chunk per chunk, in this "
                             "process; see TestAuditTrail",
    "auto_top_up_run_begin": "orchestrator: the run's start (one event, run_start) after settling earlier card "
                             "top-ups (each audited by _card_settle)",
    "auto_top_up_run_chunk": "orchestrator: auto_top_up_customer per candidate of the chunk; the chunk that ends "
                             "the run audits run_finish; see TestAuditTrail",
}


class PaymentSettingsError(FinanceError):
    """Payment settings refused; nothing was changed."""


class AutoTopUpError(FinanceError):
    """The auto top-up cannot run as asked (e.g. inside a transaction); nothing was changed."""


# --- Payment settings ---------------------------------------------------------------------------------
def _optional_amount(raw: object, *, field: str) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return checked_amount(raw, error=PaymentSettingsError, field=field, maximum=max_top_up())


def _check_trigger_minimum(amount: Decimal | None, currency: str) -> None:
    minimum = django_settings.LEDGERDESK_MIN_TOP_UP
    if amount is not None and amount < minimum:
        raise PaymentSettingsError(f"The trigger amount must be at least {display(minimum)} {currency} "
                                   "(the minimum top-up).")


def _snapshot(ps: PaymentSettings | None) -> dict:
    if ps is None:
        return {}
    return {"method": ps.method, "trigger_amount": ps.trigger_amount, "limit_threshold": ps.limit_threshold,
            "auto_top_up_enabled": ps.auto_top_up_enabled}


def _has_saved_card(customer: Customer) -> bool:
    return bool(customer.stripe_customer_id and customer.stripe_payment_method_id)


def _locked_customer(customer_id: int, error: type[FinanceError]) -> Customer:
    try:
        return lock_customer(customer_id)
    except Customer.DoesNotExist:
        raise error(f"There is no customer #{customer_id}.")


def _save_settings(*, customer: Customer, current: PaymentSettings | None, wanted: dict, action: str,
                   actor: Actor, at: dt.datetime) -> PaymentSettings:
    before = _snapshot(current)
    if current is not None and before == wanted:
        return current  # nothing changed: no write, no event
    if current is None:
        current = PaymentSettings.objects.create(customer=customer, updated_at=at, updated_by=label(actor), **wanted)
    else:
        PaymentSettings.objects.filter(pk=current.pk).update(updated_at=at, updated_by=label(actor), **wanted)
        current.refresh_from_db()
    audit_record(actor=actor, action=action, app=APP, obj=current, customer_id=customer.pk, before=before,
                 after=_snapshot(current), at=at)
    return current


@transaction.atomic
def payment_settings_update(*, customer_id: int, method: str, auto_top_up_enabled: bool, actor: Actor,
                            trigger_amount: object = None, limit_threshold: object = None,
                            at: dt.datetime | None = None) -> PaymentSettings:
    """Staff set a customer's payment settings (Finance > Organization management).

    Cheque/TT and master account: the trigger amount and limit threshold are given here (both required to
    turn auto top-up on; each more than zero, at most six decimals; the trigger at least the minimum
    top-up). Card: only with a saved card; the amounts are the ones the customer chose in the portal and
    cannot be changed here (pass None, or the same values)."""
    at = when(at)
    if method not in TopUpMethod.values:
        raise PaymentSettingsError("Choose a payment method: cheque or telegraphic transfer, online payment by "
                                   "card, or issue from master account.")
    customer = _locked_customer(customer_id, PaymentSettingsError)
    current = PaymentSettings.objects.filter(customer_id=customer.pk).first()
    enabled = bool(auto_top_up_enabled)
    if method == TopUpMethod.CARD:
        if not _has_saved_card(customer):
            raise PaymentSettingsError(f"{customer.name} has no saved card. The card method becomes available "
                                       "once the customer saves a card during an online top-up in the portal.")
        trigger, threshold = card_choices(customer.pk, current)
        given_trigger = _optional_amount(trigger_amount, field="Trigger amount")
        given_threshold = _optional_amount(limit_threshold, field="Limit threshold")
        if (given_trigger is not None and given_trigger != trigger) or (
                given_threshold is not None and given_threshold != threshold):
            raise PaymentSettingsError("With the card method the trigger amount and limit threshold are set by the "
                                       "customer during an online top-up in the portal; they cannot be changed here.")
        if enabled and (trigger is None or threshold is None):
            raise PaymentSettingsError("The customer has not chosen a trigger amount and limit threshold yet (they "
                                       "do so during an online top-up in the portal); auto top-up by card cannot "
                                       "be turned on until then.")
    else:
        trigger = _optional_amount(trigger_amount, field="Trigger amount")
        threshold = _optional_amount(limit_threshold, field="Limit threshold")
        if enabled and trigger is None:
            raise PaymentSettingsError("Trigger amount is required to turn auto top-up on.")
        if enabled and threshold is None:
            raise PaymentSettingsError("Limit threshold is required to turn auto top-up on.")
        _check_trigger_minimum(trigger, customer.currency)
    wanted = {"method": method, "trigger_amount": trigger, "limit_threshold": threshold,
              "auto_top_up_enabled": enabled}
    return _save_settings(customer=customer, current=current, wanted=wanted,
                          action="finance.payment_settings.update", actor=actor, at=at)


@transaction.atomic
def payment_settings_update_from_portal(*, customer_id: int, trigger_amount: object, limit_threshold: object,
                                        actor: Actor, auto_top_up_enabled: bool | None = True,
                                        at: dt.datetime | None = None) -> PaymentSettings:
    """The customer chose auto top-up by card during an online top-up in the portal (after the card was
    saved), or changed the amounts on the portal's Cards page: method card, their trigger amount and limit
    threshold, auto top-up on (or off). `auto_top_up_enabled=None` keeps it as it is (decided under the
    customer's lock) when the method is card already, and turns it on otherwise."""
    at = when(at)
    customer = _locked_customer(customer_id, PaymentSettingsError)
    if not _has_saved_card(customer):
        raise PaymentSettingsError("There is no saved card on this account: save a card during an online top-up "
                                   "to turn on automatic top-ups by card.")
    trigger = checked_amount(trigger_amount, error=PaymentSettingsError, field="Trigger amount", maximum=max_top_up())
    threshold = checked_amount(limit_threshold, error=PaymentSettingsError, field="Limit threshold",
                               maximum=max_top_up())
    _check_trigger_minimum(trigger, customer.currency)
    current = PaymentSettings.objects.filter(customer_id=customer.pk).first()
    if auto_top_up_enabled is None:
        auto_top_up_enabled = current.auto_top_up_enabled if current and current.method == TopUpMethod.CARD else True
    wanted = {"method": TopUpMethod.CARD.value, "trigger_amount": trigger, "limit_threshold": threshold,
              "auto_top_up_enabled": bool(auto_top_up_enabled)}
    return _save_settings(customer=customer, current=current, wanted=wanted,
                          action="finance.payment_settings.update_from_portal", actor=actor, at=at)


@transaction.atomic
def payment_settings_switch_from_portal(*, customer_id: int, enabled: bool, actor: Actor,
                                        at: dt.datetime | None = None) -> PaymentSettings:
    """The customer turns automatic top-ups by card off, or on again, in the portal (Cards and auto
    top-up). Off: only top-ups by card (a method staff chose stays theirs to change). On: only with a
    saved card and the amounts the customer chose (`card_choices`), the trigger still at least the minimum
    top-up; the method becomes card, as when a card is saved during a top-up. Already so: no change."""
    at = when(at)
    customer = _locked_customer(customer_id, PaymentSettingsError)
    current = PaymentSettings.objects.filter(customer_id=customer.pk).first()
    if enabled:
        if not _has_saved_card(customer):
            raise PaymentSettingsError("There is no saved card on this account: save a card during an online "
                                       "top-up to turn on automatic top-ups by card.")
        trigger, threshold = card_choices(customer.pk, current)
        if trigger is None or threshold is None:
            raise PaymentSettingsError("Choose how much each automatic top-up adds and at which level of usable "
                                       "credits it happens first.")
        _check_trigger_minimum(trigger, customer.currency)
    else:
        if current is None or current.method != TopUpMethod.CARD:
            raise PaymentSettingsError("Your account has no automatic top-ups by card to turn off. Top-ups by "
                                       "another method are arranged with our finance team.")
        trigger, threshold = current.trigger_amount, current.limit_threshold
    wanted = {"method": TopUpMethod.CARD.value, "trigger_amount": trigger, "limit_threshold": threshold,
              "auto_top_up_enabled": bool(enabled)}
    return _save_settings(customer=customer, current=current, wanted=wanted,
                          action="finance.payment_settings.switch_from_portal", actor=actor, at=at)


# --- One customer -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What the job decided for one customer, with the figures it decided on."""

    customer_id: int
    decision: str
    method: str = ""
    reason: str = ""
    auto_top_up_id: int | None = None
    usable_credits: Decimal | None = None
    limit_threshold: Decimal | None = None
    trigger_amount: Decimal | None = None

    def as_row(self, *, run: AutoTopUpRun, decided_at: dt.datetime) -> AutoTopUpDecision:
        return AutoTopUpDecision(run=run, run_date=run.run_date, customer_id=self.customer_id,
                                 decision=self.decision, method=self.method or TopUpMethod.CHEQUE_TT,
                                 usable_credits=self.usable_credits, limit_threshold=self.limit_threshold,
                                 trigger_amount=self.trigger_amount, reason=self.reason[:500],
                                 auto_top_up_id=self.auto_top_up_id, decided_at=decided_at)


@dataclass(frozen=True)
class _CardClaim:
    """Phase 1 of a card top-up committed (or found pending): Stripe is called next, outside any lock."""

    row: AutoTopUp


def _outcome(row: AutoTopUp, decision: str, reason: str = "") -> Outcome:
    return Outcome(customer_id=row.customer_id, decision=decision, method=row.method, reason=reason,
                   auto_top_up_id=row.pk, usable_credits=row.usable_credits_before,
                   limit_threshold=row.limit_threshold, trigger_amount=row.amount)


def auto_top_up_customer(*, customer_id: int, run_date: dt.date, actor: Actor, run_id: int | None = None,
                         now: dt.datetime | None = None, email_via_celery: bool = True) -> Outcome:
    """Decide and do the day's auto top-up of one customer, in its own short transaction (two for a
    card: the claim commits before Stripe is called, the outcome is recorded after). Idempotent: called
    again the same day it returns `skipped_already_today`, or resumes a card charge still in progress.

    Call it outside any transaction: the card claim must be committed before Stripe is asked to charge."""
    now = now or timezone.now()
    first = _decide(customer_id=customer_id, run_date=run_date, actor=actor, run_id=run_id, now=now,
                    email_via_celery=email_via_celery)
    if isinstance(first, Outcome):
        return first
    return _card_charge(first.row, actor=actor, now=now, email_via_celery=email_via_celery)


@transaction.atomic
def _decide(*, customer_id: int, run_date: dt.date, actor: Actor, run_id: int | None, now: dt.datetime,
            email_via_celery: bool) -> Outcome | _CardClaim:
    customer = lock_customer(customer_id)  # serialises every worker on this customer
    existing = AutoTopUp.objects.select_for_update(of=("self",), no_key=True).filter(customer_id=customer_id,
                                                                        run_date=run_date).first()
    if existing is not None:
        # Only a card claim is ever committed pending (the other methods settle in the claim's transaction).
        if existing.status == AutoTopUpStatus.PENDING and existing.method == TopUpMethod.CARD:
            return _CardClaim(existing)  # a card charge a dead worker left in progress: resume it
        if run_id is not None and existing.run_id == run_id:
            # This run did it already (a chunk retried after its worker died before the decisions were written):
            # the decision is what the run did, not a skip.
            done = TopUpDecision.FIRED if existing.status == AutoTopUpStatus.FIRED else TopUpDecision.FAILED
            return _outcome(existing, done, existing.reason)
        return _outcome(existing, TopUpDecision.SKIPPED_ALREADY_TODAY,
                        f"{existing.get_status_display()} earlier today.")
    # The job's rule (selectors_settings.auto_top_up_classification), read for this customer under its lock.
    facts = (auto_top_up_classification(run_date, customer_id=customer_id)
             .values("decision", "method", "usable", "limit_threshold", "amount", "reason").first())
    if facts is None or facts["decision"] == TopUpDecision.SKIPPED_DISABLED:
        return Outcome(customer_id=customer_id, decision=TopUpDecision.SKIPPED_DISABLED,
                       method=facts["method"] if facts else "", usable_credits=customer.usable_credits,
                       reason="Auto top-up was turned off before the job reached this customer.")
    figures = {"method": facts["method"], "usable_credits": facts["usable"],
               "limit_threshold": facts["limit_threshold"], "trigger_amount": facts["amount"]}
    if facts["decision"] != CANDIDATE:
        return Outcome(customer_id=customer_id, decision=facts["decision"], reason=facts["reason"], **figures)
    row = _claim(customer=customer, facts=facts, run_date=run_date, run_id=run_id, now=now)
    if row is None:  # the unique key's last word (cannot happen under the customer's lock)
        return Outcome(customer_id=customer_id, decision=TopUpDecision.SKIPPED_ALREADY_TODAY,
                       reason="Claimed by another worker.", **figures)
    if row.method == TopUpMethod.CARD:
        if not _has_saved_card(customer):
            return _fail(row, customer, code="no_saved_card",
                         reason="There is no saved card to charge.", actor=actor, now=now,
                         email_via_celery=email_via_celery)
        audit_record(actor=actor, action="finance.auto_top_up.claim", app=APP, obj=row, customer_id=customer_id,
                     after=_row_facts(row), at=now)
        return _CardClaim(row)
    if row.method == TopUpMethod.MASTER_ACCOUNT:
        return _fire_master_account(row, customer, actor=actor, now=now, email_via_celery=email_via_celery)
    return _fire_cheque_tt(row, customer, actor=actor, now=now, email_via_celery=email_via_celery)


def _claim(*, customer: Customer, facts: dict, run_date: dt.date, run_id: int | None,
           now: dt.datetime) -> AutoTopUp | None:
    """INSERT the day's row first; ON CONFLICT DO NOTHING leaves the first claimer's row alone. `facts`: the
    customer's row of auto_top_up_classification (method, amount, usable credits, limit threshold)."""
    method, amount, usable, threshold = facts["method"], facts["amount"], facts["usable"], facts["limit_threshold"]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO finance_autotopup (customer_id, run_date, run_id, status, method, amount,"
            " currency, usable_credits_before, limit_threshold, failure_code, reason, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '', '', %s)"
            " ON CONFLICT (customer_id, run_date) DO NOTHING RETURNING id",
            [customer.pk, run_date, run_id, AutoTopUpStatus.PENDING, method, amount,
             customer.currency, usable, threshold, now],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    row = AutoTopUp(id=found[0], customer_id=customer.pk, run_date=run_date, run_id=run_id,
                    status=AutoTopUpStatus.PENDING, method=method, amount=amount,
                    currency=customer.currency, usable_credits_before=usable, limit_threshold=threshold,
                    failure_code="", reason="", created_at=now)
    row._state.adding = False
    return row


def _row_facts(row: AutoTopUp) -> dict:
    return {"run_date": row.run_date, "status": row.status, "method": row.method, "amount": row.amount,
            "currency": row.currency, "usable_credits_before": row.usable_credits_before,
            "limit_threshold": row.limit_threshold, "invoice": row.invoice.number if row.invoice_id else "",
            "card_payment": row.card_payment_id, "transfer_entry": row.transfer_entry_id,
            "failure_code": row.failure_code, "reason": row.reason}


def _fired(row: AutoTopUp, customer: Customer, *, actor: Actor, now: dt.datetime, email_via_celery: bool,
           notice: dict | None, **result) -> Outcome:
    """`notice`: the top-up email's context (amount, currency, card: "" for the master wallet), or None."""
    before = {"status": row.status}
    AutoTopUp.objects.filter(pk=row.pk).update(status=AutoTopUpStatus.FIRED, completed_at=now, **result)
    row.status, row.completed_at = AutoTopUpStatus.FIRED, now
    for name, value in result.items():
        setattr(row, name, value)
    if notice is not None:
        note = _notify(customer, kind=NotificationKind.TOP_UP, template="finance/email/auto_top_up_fired",
                       context=notice, row=row, actor=actor, now=now, email_via_celery=email_via_celery)
        customer = note.customer  # read again under its lock by notification_record, after the credit
    else:
        customer.refresh_from_db(fields=Customer.RUNNING_TOTALS)
    audit_record(actor=actor, action="finance.auto_top_up.fire", app=APP, obj=row, customer_id=customer.pk,
                 before=before, after={**_row_facts(row), "usable_credits_after": customer.usable_credits}, at=now)
    return _outcome(row, TopUpDecision.FIRED)


def _fail(row: AutoTopUp, customer: Customer, *, code: str, reason: str, actor: Actor, now: dt.datetime,
          email_via_celery: bool, customer_message: str = "") -> Outcome:
    """Record the day's failure (not retried today), notify the customer, one audit event."""
    before = {"status": row.status}
    reason = (reason or "The top-up failed.")[:500]
    AutoTopUp.objects.filter(pk=row.pk).update(status=AutoTopUpStatus.FAILED, failure_code=code[:64], reason=reason,
                                               completed_at=now)
    row.status, row.failure_code, row.reason, row.completed_at = AutoTopUpStatus.FAILED, code[:64], reason, now
    _notify(customer, kind=NotificationKind.TOP_UP_FAILED, template="finance/email/auto_top_up_failed",
            context={"message": customer_message or reason}, row=row, actor=actor, now=now,
            email_via_celery=email_via_celery)
    audit_record(actor=actor, action="finance.auto_top_up.fail", app=APP, obj=row, customer_id=customer.pk,
                 before=before, after=_row_facts(row), reason=reason, at=now)
    return _outcome(row, TopUpDecision.FAILED, reason)


def _fire_master_account(row: AutoTopUp, customer: Customer, *, actor: Actor, now: dt.datetime,
                         email_via_celery: bool) -> Outcome:
    """The transfer takes the wallet's lock last (its debit), so the wallet is read here without one: a
    balance too low is refused cheaply before anything is written, and a balance that fell since (another
    worker's transfer) is refused by the transfer's own debit, recorded the same way."""
    common = {"actor": actor, "now": now, "email_via_celery": email_via_celery}
    unavailable = "Automatic top-ups from our account are unavailable today."
    wallet = default_wallet(customer.currency)
    if wallet is None:
        return _fail(row, customer, code="no_master_wallet", reason=f"There is no master wallet in {row.currency}.",
                     customer_message=unavailable, **common)

    def too_low(name: str, balance: Decimal) -> Outcome:
        return _fail(row, customer, code="master_wallet_insufficient",
                     reason=f"The master wallet {name} holds {display(balance)} {wallet.currency}, "
                            f"less than the {display(row.amount)} {row.currency} to issue.",
                     customer_message=unavailable, **common)

    if wallet.balance < row.amount:
        return too_low(wallet.name, wallet.balance)
    try:  # its own savepoint: a refusal rolls back its legs only
        entry_txn = master_wallet_transfer(customer_id=customer.pk, amount=row.amount, actor=actor, at=now,
                                           wallet_id=wallet.pk, reference=f"Automatic top-up {row.run_date}",
                                           idempotency_key=auto_top_up_key(customer.pk, row.run_date))
    except WalletTooLowError as error:
        return too_low(error.wallet_name, error.balance)
    except WalletError as error:
        return _fail(row, customer, code="master_wallet_refused", reason=str(error), customer_message=unavailable,
                     **common)
    return _fired(row, customer, transfer_entry=entry_txn.master_wallet_entry, **common,
                  notice={"amount": row.amount, "currency": row.currency, "card": ""})


def _fire_cheque_tt(row: AutoTopUp, customer: Customer, *, actor: Actor, now: dt.datetime,
                    email_via_celery: bool) -> Outcome:
    common = {"actor": actor, "now": now, "email_via_celery": email_via_celery}
    key = auto_top_up_key(customer.pk, row.run_date)
    try:
        with transaction.atomic():
            invoice = invoice_create_top_up(customer_id=customer.pk, amount=row.amount, actor=actor, at=now,
                                            name=f"Automatic top-up {display(row.amount)} {row.currency}",
                                            source_key=key)
            invoice = invoice_send(invoice_id=invoice.pk, actor=actor, at=now, via_celery=email_via_celery)
    except DuplicateInvoiceError as duplicate:  # today's invoice exists (made outside this job): it is the top-up
        invoice = duplicate.invoice
    except InvoiceError as error:
        return _fail(row, customer, code="invoice_refused", reason=str(error),
                     customer_message="The top-up invoice could not be issued.", **common)
    # invoice_send recorded the customer's notification (the invoice email).
    return _fired(row, customer, invoice=invoice, notice=None, **common)


# --- Card: phase 2 ------------------------------------------------------------------------------------
def _card_charge(row: AutoTopUp, *, actor: Actor, now: dt.datetime, email_via_celery: bool) -> Outcome:
    """Charge the saved card with the day's key (no lock held), then record what Stripe said."""
    try:
        payment = card_charge_off_session(customer_id=row.customer_id, amount=row.amount,
                                          idempotency_key=auto_top_up_key(row.customer_id, row.run_date),
                                          actor=actor, description=f"Automatic top-up {row.run_date}", now=now)
    except CardPaymentError as error:
        return _card_unconfirmed(row.pk, error=str(error), actor=actor, now=now, email_via_celery=email_via_celery)
    return _card_settle(row.pk, payment_id=payment.pk, actor=actor, now=now, email_via_celery=email_via_celery)


@transaction.atomic
def _card_settle(row_id: int, *, payment_id: int, actor: Actor, now: dt.datetime,
                 email_via_celery: bool) -> Outcome:
    row0 = AutoTopUp.objects.get(pk=row_id)
    customer = lock_customer(row0.customer_id)
    row = AutoTopUp.objects.select_for_update(of=("self",), no_key=True).get(pk=row_id)
    if row.status != AutoTopUpStatus.PENDING:  # another worker recorded it first
        return _outcome(row, TopUpDecision.SKIPPED_ALREADY_TODAY, f"{row.get_status_display()} earlier today.")
    payment = CardPayment.objects.get(pk=payment_id)
    common = {"actor": actor, "now": now, "email_via_celery": email_via_celery}
    card = card_label(payment.card_brand, payment.card_last4) or "your saved card"
    if payment.status == CardPaymentStatus.SUCCEEDED:
        return _fired(row, customer, card_payment=payment, **common,
                      notice={"amount": payment.amount_charged, "currency": payment.currency, "card": card})
    if payment.status in (CardPaymentStatus.FAILED, CardPaymentStatus.CANCELLED):
        AutoTopUp.objects.filter(pk=row.pk).update(card_payment=payment)
        row.card_payment = payment
        reason = payment.failure_reason or f"The card payment was {payment.get_status_display().lower()}."
        return _fail(row, customer, code=payment.failure_code or payment.status, reason=f"{card}: {reason}",
                     **common)
    return _outcome(row, TopUpDecision.IN_PROGRESS, "The card charge is not confirmed yet; the next run resumes it.")


@transaction.atomic
def _card_unconfirmed(row_id: int, *, error: str, actor: Actor, now: dt.datetime,
                      email_via_celery: bool) -> Outcome:
    """Stripe could not be reached (or the card went away): nothing is known to be charged. Stays pending
    (resumed by the next run of the day with the same key), unless there is no card left to charge."""
    row0 = AutoTopUp.objects.get(pk=row_id)
    customer = lock_customer(row0.customer_id)
    row = AutoTopUp.objects.select_for_update(of=("self",), no_key=True).get(pk=row_id)
    if row.status != AutoTopUpStatus.PENDING:
        return _outcome(row, TopUpDecision.SKIPPED_ALREADY_TODAY, f"{row.get_status_display()} earlier today.")
    started = CardPayment.objects.filter(idempotency_key=auto_top_up_key(row.customer_id, row.run_date)).exists()
    if not started and not _has_saved_card(customer):
        return _fail(row, customer, code="no_saved_card", reason="There is no saved card to charge.", actor=actor,
                     now=now, email_via_celery=email_via_celery)
    return _outcome(row, TopUpDecision.IN_PROGRESS, f"{error} The next run resumes it.")


def _settle_earlier_pending(*, run_date: dt.date, actor: Actor, email_via_celery: bool) -> int:
    """Card top-ups of earlier days left in progress: recorded from their CardPayment once Stripe's outcome
    is known there (a webhook may have credited it). Never charges again: a key older than a day is not
    safe to replay at Stripe. Returns how many were settled."""
    settled = 0
    rows = AutoTopUp.objects.filter(status=AutoTopUpStatus.PENDING, run_date__lt=run_date).order_by("id")
    for row in rows:
        payment = CardPayment.objects.filter(idempotency_key=auto_top_up_key(row.customer_id, row.run_date)).first()
        if payment is None or payment.status == CardPaymentStatus.PENDING:
            continue
        outcome = _card_settle(row.pk, payment_id=payment.pk, actor=actor, now=timezone.now(),
                               email_via_celery=email_via_celery)
        settled += outcome.decision in (TopUpDecision.FIRED, TopUpDecision.FAILED)
    return settled


# --- Notices ------------------------------------------------------------------------------------------
def _notify(customer: Customer, *, kind: str, template: str, context: dict, row: AutoTopUp, actor: Actor,
            now: dt.datetime, email_via_celery: bool) -> Notification:
    """Record the notice (queued), its subject and body rendered from `template`_subject.txt and
    `template`.txt, and email it after commit."""
    context = {**context, "customer": customer, "row": row, "seller": django_settings.LEDGERDESK_SELLER["name"]}
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context).strip()
    note = notification_record(customer_id=customer.pk, kind=kind, recipient=customer.billing_email,
                               subject=subject, body=body, actor=actor, at=now, status="queued",
                               source_type=SOURCE_TYPE, source_id=row.pk)
    if _chunk_sends_notices.get():
        pass  # the chunk queues its notices in one task when it ends (_queue_chunk_notices)
    elif email_via_celery:
        from ..tasks import deliver_auto_top_up_notice

        transaction.on_commit(lambda: deliver_auto_top_up_notice.delay(note.pk), robust=True)
    else:
        transaction.on_commit(lambda: auto_top_up_notice_deliver(notification_id=note.pk, actor=actor), robust=True)
    return note


@transaction.atomic
def auto_top_up_notice_deliver(*, notification_id: int, actor: Actor, at: dt.datetime | None = None) -> Notification:
    """Email a queued auto top-up notice once: queued -> sent (or failed, with the mail server's error).
    A redelivered task finds it no longer queued and sends nothing."""
    at = when(at)
    note = (Notification.objects.select_for_update(of=("self",), no_key=True)
            .filter(pk=notification_id, source_type=SOURCE_TYPE).first())
    if note is None:
        raise AutoTopUpError(f"There is no auto top-up notice #{notification_id}.")
    if note.status != "queued":
        return note
    error = ""
    try:
        EmailMessage(subject=note.subject, body=note.body, to=[note.recipient],
                     from_email=django_settings.DEFAULT_FROM_EMAIL).send(fail_silently=False)
        status = "sent"
    except Exception as exc:  # the mail server's failure is recorded on the notice, not raised
        logger.exception("Auto top-up notice %s failed", notification_id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
    Notification.objects.filter(pk=note.pk).update(status=status, sent_at=at)
    note.refresh_from_db()
    audit_record(actor=actor, action="finance.auto_top_up.notice", app=APP, obj=note, customer_id=note.customer_id,
                 before={"status": "queued"}, after={"status": status, "recipient": note.recipient,
                                                     "subject": note.subject}, reason=error, at=at)
    return note


# --- Run now (staff) ------------------------------------------------------------------------------------
# A run asked for within this long and not finished yet is the one a second click gets back (a double submit,
# a second tab): it is queued or under way. Older unfinished runs were interrupted; asking again queues a new
# run, which is as safe as the scheduled run's second delivery (at most one top-up per customer and day).
RUN_NOW_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class RunNow:
    run: AutoTopUpRun
    queued: bool  # False: a run of the day was already queued or under way; that one is returned


@transaction.atomic
def auto_top_up_run_now(*, actor: Actor, now: dt.datetime | None = None) -> RunNow:
    """Staff start today's auto top-up now (Finance role): the run row is written (queued) with its audit event,
    and the daily task is sent after commit with the run's id, to run on a worker exactly as the scheduled
    run does (same service, same rule, same idempotency per customer and day).

    Double-submit safe: requests queue on one lock, and while a run of the day asked for or started in the
    last RUN_NOW_WINDOW has not finished, that run is returned and nothing is written or sent."""
    now = when(now)
    run_date = timezone.localdate(now)
    lock_auto_top_up_requests()
    recent = now - RUN_NOW_WINDOW
    busy = (AutoTopUpRun.objects.filter(run_date=run_date, finished_at__isnull=True)
            .filter(Q(requested_at__gte=recent) | Q(started_at__gte=recent)).order_by("-id").first())
    if busy is not None:
        return RunNow(run=busy, queued=False)
    run = AutoTopUpRun.objects.create(run_date=run_date, trigger=AutoTopUpTrigger.STAFF, actor_label=label(actor),
                                      task_id=uuid.uuid4().hex, requested_at=now)
    audit_record(actor=actor, action="finance.auto_top_up.run_now", app=APP, obj=run, at=now,
                 after={"run_date": run_date, "task_id": run.task_id})
    from ..tasks import daily_auto_top_up

    transaction.on_commit(lambda: daily_auto_top_up.apply_async(
        kwargs={"run_date": run_date.isoformat(), "run_id": run.pk}, task_id=run.task_id))
    return RunNow(run=run, queued=True)


# --- The daily run: started once, its candidates handled in chunks by any worker ----------------------------
# How long a chunk whose customers met an unexpected error waits before its next attempt (attempt 2, 3, ...);
# after the last one they are recorded as failed on the run and left to the next run of the day.
RETRY_BACKOFF_SECONDS = (10, 60, 300)
# Session advisory locks: (namespace, chunk id). Held by the worker handling the chunk, released by PostgreSQL
# when that worker's connection goes (a killed worker included), so a redelivered chunk can be taken at once.
CHUNK_LOCK_NAMESPACE = 24_001


def _backoff() -> tuple[int, ...]:
    return tuple(getattr(django_settings, "LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF", RETRY_BACKOFF_SECONDS))


@dataclass(frozen=True)
class RunStarted:
    run: AutoTopUpRun
    chunk_ids: list[int]
    finished: bool  # no candidate: the run finished as it started


@transaction.atomic
def _run_start(*, run_date: dt.date, actor: Actor, trigger: str, task_id: str, now: dt.datetime,
               run_id: int | None, chunk_size: int, settled_earlier: int) -> RunStarted:
    """Start the run: the queued run `run_id` (staff's Run now) if no worker started it yet, else a new run
    row (the scheduled run, or a redelivered task whose run had started: a new run picks up what is left).
    One set-based statement logs every skip and returns the candidates, which are cut into chunks."""
    run = None
    if run_id is not None:
        run = (AutoTopUpRun.objects.select_for_update(of=("self",), no_key=True)
               .filter(pk=run_id, started_at__isnull=True).first())
    if run is not None:
        run.started_at = now
    else:
        run = AutoTopUpRun.objects.create(run_date=run_date, trigger=trigger, actor_label=label(actor),
                                          task_id=(task_id or "")[:64], started_at=now)
    candidates = classify_and_log_skips(run_id=run.pk, run_date=run.run_date, decided_at=now)
    skipped = AutoTopUpDecision.objects.filter(run_id=run.pk).count()
    chunks = AutoTopUpChunk.objects.bulk_create(
        [AutoTopUpChunk(run=run, seq=n, customer_ids=candidates[i:i + chunk_size])
         for n, i in enumerate(range(0, len(candidates), chunk_size))])
    run.customers_count, run.candidates_count, run.chunks_count = skipped + len(candidates), len(candidates), len(chunks)
    AutoTopUpRun.objects.filter(pk=run.pk).update(started_at=run.started_at, customers_count=run.customers_count,
                                                  candidates_count=len(candidates), chunks_count=len(chunks))
    audit_record(actor=actor, action="finance.auto_top_up.run_start", app=APP, obj=run, at=now,
                 after={"run_date": run.run_date, "trigger": run.trigger, "task_id": run.task_id,
                        "candidates": len(candidates), "chunks": len(chunks), "settled_earlier": settled_earlier})
    if not chunks:
        run = _run_finish(run, actor=actor, now=now)
    return RunStarted(run=run, chunk_ids=[c.pk for c in chunks], finished=not chunks)


def _run_finish(run: AutoTopUpRun, *, actor: Actor, now: dt.datetime) -> AutoTopUpRun:
    """Inside the transaction that holds the run's row: the counts written, one event."""
    counts = run_counts(run.pk)
    AutoTopUpRun.objects.filter(pk=run.pk).update(
        finished_at=now, customers_count=counts["customers"], fired_count=counts["fired"],
        failed_count=counts["failed"], skipped_count=counts["skipped"])
    run.refresh_from_db()
    audit_record(actor=actor, action="finance.auto_top_up.run_finish", app=APP, obj=run, at=now,
                 after={**counts, "run_date": run.run_date})
    return run


def auto_top_up_run_begin(*, run_date: dt.date, actor: Actor, trigger: str = AutoTopUpTrigger.COMMAND,
                          task_id: str = "", run_id: int | None = None, chunk_size: int = CHUNK_SIZE,
                          email_via_celery: bool = True) -> RunStarted:
    """The run's serial part: card top-ups of earlier days settled, then one transaction that writes the run,
    logs every skip and the chunks of candidates (`chunk_ids`, for `auto_top_up_run_chunk` on any worker).
    A run without candidates is finished here."""
    settled = _settle_earlier_pending(run_date=run_date, actor=actor, email_via_celery=email_via_celery)
    return _run_start(run_date=run_date, actor=actor, trigger=trigger, task_id=task_id, now=timezone.now(),
                      run_id=run_id, chunk_size=chunk_size, settled_earlier=settled)


@dataclass(frozen=True)
class ChunkResult:
    chunk_id: int
    state: str  # "done", "retry" (retry_in seconds), "busy" (another worker holds it), "done earlier"
    handled: int = 0
    retry_in: int | None = None
    run_finished: bool = False


@contextmanager
def _chunk_lock(chunk_id: int) -> Iterator[bool]:
    """pg_try_advisory_lock on the chunk for this connection's session; yields whether it was taken."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [CHUNK_LOCK_NAMESPACE, chunk_id])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [CHUNK_LOCK_NAMESPACE, chunk_id])


def auto_top_up_run_chunk(*, chunk_id: int, actor: Actor, email_via_celery: bool = True,
                          worker: str = "") -> ChunkResult:
    """Handle one chunk of a run, on any worker: each candidate not yet decided in the run through
    `auto_top_up_customer` (its own short transaction(s), the same rules), the decisions bulk-inserted every
    DECISION_CHUNK, the notices queued in one task at the end. Safe to deliver twice or after a worker died
    mid-chunk: the chunk's advisory lock keeps a second delivery out while the first is alive; customers this
    run decided already are not handled again, and one topped up whose decision was lost with its worker is
    found by its day's row (the unique key per customer and day, under the customer's lock).

    A customer whose handling raises unexpectedly is recorded on the chunk with its error and the chunk is
    retried after RETRY_BACKOFF_SECONDS (`retry_in`); after the last attempt it is recorded as failed on the
    run. The chunk that finishes last finishes the run."""
    with _chunk_lock(chunk_id) as got:
        if not got:
            return ChunkResult(chunk_id=chunk_id, state="busy")
        chunk = AutoTopUpChunk.objects.select_related("run").get(pk=chunk_id)
        if chunk.status == AutoTopUpChunkStatus.DONE:
            return ChunkResult(chunk_id=chunk_id, state="done earlier")
        attempt = chunk.attempts + 1
        AutoTopUpChunk.objects.filter(pk=chunk.pk).update(
            status=AutoTopUpChunkStatus.RUNNING, attempts=attempt, claimed_at=timezone.now(), retry_at=None,
            claimed_by=(worker or f"{socket.gethostname()}:{os.getpid()}")[:150])
        run = chunk.run
        decided = set(AutoTopUpDecision.objects.filter(run_id=run.pk, customer_id__in=chunk.customer_ids)
                      .values_list("customer_id", flat=True))
        last_attempt = attempt > len(_backoff())
        errors: dict[str, str] = {}
        rows: list[AutoTopUpDecision] = []

        def decided_now(outcome: Outcome, now: dt.datetime) -> None:
            nonlocal rows
            rows.append(outcome.as_row(run=run, decided_at=now))
            if len(rows) >= DECISION_CHUNK:
                AutoTopUpDecision.objects.bulk_create(rows, ignore_conflicts=True)
                rows = []

        def one_by_one(customer_id: int) -> None:
            now = timezone.now()
            try:
                outcome = auto_top_up_customer(customer_id=customer_id, run_date=run.run_date, actor=actor,
                                               run_id=run.pk, now=now, email_via_celery=email_via_celery)
            except Exception as exc:  # one customer's unexpected error must not stop the others
                logger.exception("Auto top-up of customer %s on %s failed (attempt %s)", customer_id,
                                 run.run_date, attempt)
                errors[str(customer_id)] = f"{type(exc).__name__}: {exc}"[:300]
                if not last_attempt:
                    return  # retried with the chunk, after the back-off
                outcome = Outcome(customer_id=customer_id, decision=TopUpDecision.FAILED,
                                  reason=f"Unexpected error ({type(exc).__name__}) on each of {attempt} attempts; "
                                         "each transaction was rolled back and the next run tries again.")
            decided_now(outcome, now)

        todo = [customer_id for customer_id in chunk.customer_ids if customer_id not in decided]
        token = _chunk_sends_notices.set(True)
        try:
            if not _batching():
                for customer_id in todo:
                    one_by_one(customer_id)
            for i in range(0, len(todo) if _batching() else 0, BATCH_SIZE):
                batch = _top_up_batch(todo[i:i + BATCH_SIZE], run=run, actor=actor,
                                      email_via_celery=email_via_celery)
                for outcome in batch.outcomes:
                    decided_now(outcome, batch.at)
                for customer_id in batch.one_by_one:
                    one_by_one(customer_id)
            if rows:
                AutoTopUpDecision.objects.bulk_create(rows, ignore_conflicts=True)
        finally:
            _chunk_sends_notices.reset(token)
        _queue_chunk_notices(chunk, actor=actor, email_via_celery=email_via_celery)
        handled = len(chunk.customer_ids) - len(decided)
        if errors and not last_attempt:
            retry_in = _backoff()[attempt - 1]
            AutoTopUpChunk.objects.filter(pk=chunk.pk).update(
                status=AutoTopUpChunkStatus.RETRY, errors=errors,
                retry_at=timezone.now() + dt.timedelta(seconds=retry_in))
            return ChunkResult(chunk_id=chunk_id, state="retry", handled=handled, retry_in=retry_in)
        finished = _chunk_done(chunk, errors=errors, actor=actor)
        return ChunkResult(chunk_id=chunk_id, state="done", handled=handled, run_finished=finished)


def _batching() -> bool:
    """settings.LEDGERDESK_AUTO_TOP_UP_BATCH (default on): off, every candidate is handled one by one."""
    return bool(getattr(django_settings, "LEDGERDESK_AUTO_TOP_UP_BATCH", True))


@dataclass
class _Batch:
    at: dt.datetime
    outcomes: list[Outcome] = field(default_factory=list)  # decided (and done) in the batch's transaction
    one_by_one: list[int] = field(default_factory=list)  # left to auto_top_up_customer, after it commits


def _top_up_batch(customer_ids: list[int], *, run: AutoTopUpRun, actor: Actor, email_via_celery: bool) -> _Batch:
    """Decide a batch of the chunk's candidates in ONE transaction, with a few statements whatever their number,
    and do the plain cheque/TT top-ups among them (`_top_up_batch_atomic`); the rest (card, master account, a
    day's row already there, an invoice the invoices services would refuse) are returned to be handled one by
    one, each in its own transaction as before. If the batch fails as a whole (one customer's row refusing, a
    deadlock), nothing of it is left (rolled back, its invoice numbers given back) and every customer of it is
    handled one by one: the one that fails again is recorded and retried alone, the others are topped up."""
    try:
        return _top_up_batch_atomic(customer_ids, run=run, actor=actor, email_via_celery=email_via_celery)
    except Exception:
        logger.exception("Auto top-up batch of %s customers on %s failed as a whole; handling them one by one",
                         len(customer_ids), run.run_date)
        return _Batch(at=timezone.now(), one_by_one=list(customer_ids))


_INSERT_FIRED = """
INSERT INTO finance_autotopup (customer_id, run_date, run_id, status, method, amount, currency, usable_credits_before,
                               limit_threshold, failure_code, reason, created_at, completed_at, invoice_id)
SELECT v.customer_id, %s, %s, %s, %s, v.amount, v.currency, v.usable, v.threshold, '', '', %s, %s, v.invoice_id
  FROM unnest(%s::bigint[], %s::numeric[], %s::text[], %s::numeric[], %s::numeric[], %s::bigint[])
       AS v(customer_id, amount, currency, usable, threshold, invoice_id)
ON CONFLICT (customer_id, run_date) DO NOTHING
RETURNING id, customer_id
"""


@transaction.atomic
def _top_up_batch_atomic(customer_ids: list[int], *, run: AutoTopUpRun, actor: Actor,
                         email_via_celery: bool) -> _Batch:
    """The batch's transaction: the customers locked (one statement, in id order: the lock order of every worker),
    their day's rows and the job's rule read under those locks (one statement each, auto_top_up_classification:
    the same rule `_decide` applies to one customer); skips decided; the cheque/TT candidates' invoices issued and
    sent by invoices.invoice_top_ups_send_many (numbered last, in one statement); their day's rows inserted fired
    (one INSERT ... ON CONFLICT DO NOTHING: the unique key per customer and day still has the last word) and one
    fire event each (one INSERT). The audit trail of each customer is what `_fire_cheque_tt` writes: create, send,
    fire."""
    now = timezone.now()
    batch = _Batch(at=now)
    run_date = run.run_date
    customers = lock_customers(customer_ids)
    had_row = set(AutoTopUp.objects.filter(run_date=run_date, customer_id__in=customer_ids)
                  .values_list("customer_id", flat=True))
    facts_of = {f["customer_id"]: f for f in auto_top_up_classification(run_date, customer_ids=customer_ids)
                .values("customer_id", "decision", "method", "usable", "limit_threshold", "amount", "reason")}
    to_send: list[TopUpToSend] = []
    for customer_id in customer_ids:
        customer, facts = customers.get(customer_id), facts_of.get(customer_id)
        if customer is None or customer_id in had_row:
            batch.one_by_one.append(customer_id)  # gone, or a row to resume or to report: `_decide` knows how
            continue
        if facts is None or facts["decision"] == TopUpDecision.SKIPPED_DISABLED:
            batch.outcomes.append(Outcome(
                customer_id=customer_id, decision=TopUpDecision.SKIPPED_DISABLED,
                method=facts["method"] if facts else "", usable_credits=customer.usable_credits,
                reason="Auto top-up was turned off before the job reached this customer."))
            continue
        figures = {"method": facts["method"], "usable_credits": facts["usable"],
                   "limit_threshold": facts["limit_threshold"], "trigger_amount": facts["amount"]}
        if facts["decision"] != CANDIDATE:
            batch.outcomes.append(Outcome(customer_id=customer_id, decision=facts["decision"], reason=facts["reason"],
                                          **figures))
        elif facts["method"] != TopUpMethod.CHEQUE_TT:
            batch.one_by_one.append(customer_id)
        else:
            to_send.append(TopUpToSend(customer=customer, amount=facts["amount"],
                                       name=f"Automatic top-up {display(facts['amount'])} {customer.currency}",
                                       source_key=auto_top_up_key(customer_id, run_date)))
    if not to_send:
        return batch
    sent = invoice_top_ups_send_many(to_send, actor=actor, at=now, via_celery=email_via_celery)
    batch.one_by_one += [item.customer.pk for item in to_send if item.customer.pk in sent.refused]
    done = [item for item in to_send if item.customer.pk in sent.invoices]
    if not done:
        return batch
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_FIRED, [
            run_date, run.pk, AutoTopUpStatus.FIRED, TopUpMethod.CHEQUE_TT, now, now,
            [item.customer.pk for item in done], [facts_of[item.customer.pk]["amount"] for item in done],
            [item.customer.currency for item in done], [facts_of[item.customer.pk]["usable"] for item in done],
            [facts_of[item.customer.pk]["limit_threshold"] for item in done],
            [sent.invoices[item.customer.pk].pk for item in done]])
        row_ids = dict((customer_id, pk) for pk, customer_id in cursor.fetchall())
    if len(row_ids) != len(done):  # cannot happen under the customers' locks: the batch is redone one by one
        raise AutoTopUpError(f"{len(done) - len(row_ids)} of the batch's day rows were claimed by another worker.")
    events = []
    for item in done:
        customer, facts, invoice = item.customer, facts_of[item.customer.pk], sent.invoices[item.customer.pk]
        row = AutoTopUp(id=row_ids[customer.pk], customer_id=customer.pk, run_date=run_date, run_id=run.pk,
                        status=AutoTopUpStatus.FIRED, method=TopUpMethod.CHEQUE_TT, amount=facts["amount"],
                        currency=customer.currency, usable_credits_before=facts["usable"],
                        limit_threshold=facts["limit_threshold"], failure_code="", reason="", created_at=now,
                        completed_at=now, invoice=invoice)
        row._state.adding = False
        events.append({"actor": actor, "action": "finance.auto_top_up.fire", "app": APP, "obj": row,
                       "customer_id": customer.pk, "at": now, "before": {"status": AutoTopUpStatus.PENDING},
                       "after": {**_row_facts(row), "usable_credits_after": customer.usable_credits}})
        batch.outcomes.append(_outcome(row, TopUpDecision.FIRED))
    audit_record_many(events)
    return batch


@transaction.atomic
def _chunk_done(chunk: AutoTopUpChunk, *, errors: dict, actor: Actor) -> bool:
    """The chunk marked done; the run finished if it was the last (under the run's row lock, so two chunks
    ending together finish it once)."""
    run = AutoTopUpRun.objects.select_for_update(of=("self",), no_key=True).get(pk=chunk.run_id)
    now = timezone.now()
    AutoTopUpChunk.objects.filter(pk=chunk.pk).update(status=AutoTopUpChunkStatus.DONE, finished_at=now,
                                                      errors=errors)
    if run.finished_at is not None or run.chunks.exclude(status=AutoTopUpChunkStatus.DONE).exists():
        return False
    _run_finish(run, actor=actor, now=now)
    return True


def _queue_chunk_notices(chunk: AutoTopUpChunk, *, actor: Actor, email_via_celery: bool) -> None:
    """The chunk's auto top-up notices still queued (this attempt's, and any a killed worker left behind): one
    task for all of them (or sent from this process). Delivery is once per notice whatever sends it."""
    days_rows = AutoTopUp.objects.filter(run_date=chunk.run.run_date, customer_id__in=chunk.customer_ids)
    ids = list(Notification.objects.filter(source_type=SOURCE_TYPE, status="queued",
                                           source_id__in=days_rows.values("id")).values_list("id", flat=True))
    if not ids:
        return
    if email_via_celery:
        from ..tasks import deliver_auto_top_up_notices

        deliver_auto_top_up_notices.delay(ids)
    else:
        for note_id in ids:
            auto_top_up_notice_deliver(notification_id=note_id, actor=actor)


def run_daily_auto_top_up(*, run_date: dt.date, actor: Actor, trigger: str = AutoTopUpTrigger.COMMAND,
                          task_id: str = "", email_via_celery: bool = True, chunk_size: int = CHUNK_SIZE,
                          run_id: int | None = None,
                          progress: Callable[[RunProgress], None] | None = None) -> AutoTopUpRun:
    """The daily job for `run_date` in THIS process: the run begun (`auto_top_up_run_begin`), then each chunk
    handled here in turn (`auto_top_up_run_chunk`), a chunk waiting to retry after its back-off. The
    workers' way is finance.tasks.daily_auto_top_up, which hands the chunks to any worker. Safe to run any
    number of times a day, concurrently: each customer is topped up at most once. Returns the finished run.

    Call it outside any transaction (a Celery task, a management command): each customer's work must
    commit on its own, and a card claim must be committed before Stripe is called."""
    started = auto_top_up_run_begin(run_date=run_date, actor=actor, trigger=trigger, task_id=task_id,
                                    run_id=run_id, chunk_size=chunk_size, email_via_celery=email_via_celery)
    waiting = list(started.chunk_ids)
    while waiting:
        retry: list[tuple[float, int]] = []
        for chunk_id in waiting:
            result = auto_top_up_run_chunk(chunk_id=chunk_id, actor=actor, email_via_celery=email_via_celery)
            if result.state == "retry":
                retry.append((time.monotonic() + result.retry_in, chunk_id))
            if progress is not None:
                progress(run_progress(started.run.pk))
        waiting = []
        for due, chunk_id in sorted(retry):
            time.sleep(max(0.0, due - time.monotonic()))
            waiting.append(chunk_id)
    run = AutoTopUpRun.objects.get(pk=started.run.pk)
    if run.finished_at is None:  # a chunk was busy on another process: that one finishes the run
        logger.warning("Auto top-up run #%s: a chunk was handled elsewhere; the run finishes there.", run.pk)
    return run
