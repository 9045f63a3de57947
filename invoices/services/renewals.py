"""Subscription renewals (beat, daily; `manage.py renew_subscriptions --date`): each active subscription
whose renewal date has come posts its renewal charge to the ledger and moves its renewal date on by its
period; for `individual` customers the same transaction issues a purchase invoice billing that charge and
queues its email. Idempotent per subscription and period: the renewal date moves under the customer's
lock, the charge carries the idempotency key "renewal:<subscription>:<period start>" (unique) and so does
the invoice (source_key).

The renewal charge is renewal_price x quantity, the kind of the subscription (subscription, add-on,
service, hardware). As customers.charge_post decides for purchases, a renewal is not refused for lack of
usable credits: it is owed by contract, and the credit check guards real-time usage (reservations, usage
charges)."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.locks import lock_customer, lock_subscription
from customers.models import Bucket, InvoiceSetup, Subscription, Transaction
from customers.money import ZERO, quantize

from ..models import InvoiceStatus, InvoiceType
from .common import LineSpec, default_billing_to, issue, payment_terms_days, queue_email, tax_rate
from .lifecycle import create_invoice

log = logging.getLogger(__name__)
MAX_PERIODS_PER_RUN = 24  # a subscription far behind catches up at most two years per run
AUDIT_EXEMPT = {
    "add_months": "pure helper: a date computation, writes nothing",
    "renewal_key": "pure helper: formats the idempotency key, writes nothing",
}


class RenewalError(ValueError):
    """The subscription cannot be renewed now; the message says why."""


def add_months(day: dt.date, months: int) -> dt.date:
    """31 Jan + 1 month = 28/29 Feb (the last day when the month is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def renewal_key(subscription_id: int, period_start: dt.date) -> str:
    return f"renewal:{subscription_id}:{period_start.isoformat()}"


@transaction.atomic
def subscription_renew(*, subscription_id: int, on_date: dt.date, actor: Actor, at: dt.datetime | None = None,
                       via_celery: bool = True, send_email: bool = True) -> Subscription:
    """Renew one period of a subscription due on or before `on_date`."""
    at = at or timezone.now()
    customer_id = Subscription.objects.filter(pk=subscription_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise RenewalError(f"There is no subscription #{subscription_id}.")
    customer = lock_customer(customer_id)
    sub = lock_subscription(subscription_id)
    if not sub.is_active:
        raise RenewalError(f"Subscription {sub.product} is not active.")
    if sub.renewal_date > on_date:
        raise RenewalError(f"Subscription {sub.product} is not due until {sub.renewal_date:%d %b %Y}.")
    start = sub.renewal_date
    nxt = add_months(start, sub.period_months)
    key = renewal_key(sub.pk, start)
    if Transaction.objects.filter(idempotency_key=key).exists():
        raise RenewalError(f"Subscription {sub.product} was already renewed for the period from {start:%d %b %Y}.")
    price = quantize(sub.renewal_price * sub.quantity)
    period_text = f"{start:%d %b %Y} – {nxt - dt.timedelta(days=1):%d %b %Y}"
    description = f"{sub.product} x{sub.quantity}, {period_text}"
    before = {"renewal_date": start, "expecting_invoice": customer.amount_unbilled, "amount_due": customer.amount_due}
    charge = invoice = note = None
    if price > ZERO:
        (charge,) = ledger.post(customer, [ledger.Entry(
            kind=sub.kind, amount=-price, bucket=Bucket.UNBILLED, reference=f"Renewal {sub.product}"[:120],
            description=description, source_type="customers.subscription", source_id=sub.pk,
            idempotency_key=key)], at=at)
        if customer.invoice_setup == InvoiceSetup.INDIVIDUAL:
            spec = LineSpec(description=description, quantity=Decimal(sub.quantity), unit_price=sub.renewal_price,
                            tax_rate=tax_rate(), kind=sub.kind, transaction_id=charge.pk)
            invoice = create_invoice(
                customer=customer, type=InvoiceType.PURCHASE, name=f"Renewal: {sub.product}",
                billing_to=default_billing_to(customer), specs=[spec], issue_date=on_date,
                due_date=on_date + dt.timedelta(days=payment_terms_days()), source_key=key,
                status=InvoiceStatus.DRAFT)
            issue(invoice, customer, at=at)
            if send_email and customer.billing_email:
                note = queue_email(invoice, customer, at=at, actor=actor, via_celery=via_celery)
    Subscription.objects.filter(pk=sub.pk).update(renewal_date=nxt)
    sub.refresh_from_db()
    audit_record(actor=actor, action="invoices.subscription.renew", app="invoices", obj=sub,
                 customer_id=customer.pk, at=at, before=before,
                 after={"renewal_date": nxt, "period": period_text, "charge": price,
                        "transaction": charge.pk if charge else None,
                        "invoice": invoice.number if invoice else None, "notification": note.pk if note else None,
                        "expecting_invoice": customer.amount_unbilled, "amount_due": customer.amount_due})
    return sub


@dataclass
class RenewalRunResult:
    on_date: dt.date
    renewed: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.on_date:%Y-%m-%d}: {self.renewed} renewals, {len(self.failed)} failed"
        return text + "".join(f"\n  subscription #{sid}: {msg}" for sid, msg in self.failed)


def renew_due_subscriptions(*, on_date: dt.date, actor: Actor, at: dt.datetime | None = None,
                            via_celery: bool = True, send_email: bool = True) -> RenewalRunResult:
    """Renew every active subscription due on or before `on_date` (one query for the candidates), each
    period in its own transaction; one that is several periods behind catches up period by period."""
    at = at or timezone.now()
    result = RenewalRunResult(on_date=on_date)
    due = list(Subscription.objects.filter(is_active=True, renewal_date__lte=on_date).order_by("renewal_date", "pk")
               .values_list("pk", flat=True))
    for sub_id in due:
        for _ in range(MAX_PERIODS_PER_RUN):
            try:
                sub = subscription_renew(subscription_id=sub_id, on_date=on_date, actor=actor, at=at,
                                         via_celery=via_celery, send_email=send_email)
            except RenewalError:
                break  # renewed by someone else meanwhile, or deactivated: nothing left to do
            except Exception as exc:  # one subscription's failure never stops the others
                log.exception("Renewing subscription #%s failed", sub_id)
                result.failed.append((sub_id, str(exc) or type(exc).__name__))
                break
            result.renewed += 1
            if sub.renewal_date > on_date:
                break
    return result
