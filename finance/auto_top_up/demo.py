"""Demo payment settings and one day of the auto top-up, for `manage.py seed_demo` (after every app's demo):
a few organizations with cheque/TT and master-account settings (some at or below their threshold, some
above, some with auto top-up off), then today's run of the daily job, so Organization management and Auto
top-up runs have something true to show.

Through the services only (payment_settings_update, run_daily_auto_top_up), so the ledger stays consistent
and everything is audited. Idempotent: organizations that already have payment settings are left alone,
and the job runs only if it never ran."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from django.utils import timezone

from audit.actors import Actor
from customers.models import Customer

from ..models import AutoTopUpRun, AutoTopUpTrigger, PaymentSettings, TopUpMethod
from ..services.auto_top_up import PaymentSettingsError, payment_settings_update, run_daily_auto_top_up

ACTOR = Actor.system("seed-demo")
CENT = Decimal("0.01")
# code, method, trigger amount, auto top-up on, at or below the threshold today
PLAN = [
    ("GLOBEX", TopUpMethod.CHEQUE_TT, Decimal("500"), True, True),
    ("INITECH", TopUpMethod.CHEQUE_TT, Decimal("1000"), True, False),
    ("UMBRELLA", TopUpMethod.CHEQUE_TT, Decimal("300"), False, False),
    ("HOOLI", TopUpMethod.MASTER_ACCOUNT, Decimal("200"), True, True),
    ("STARK", TopUpMethod.MASTER_ACCOUNT, Decimal("250"), True, True),
    ("WAYNE", TopUpMethod.MASTER_ACCOUNT, Decimal("150"), True, False),
    ("TYRELL", TopUpMethod.MASTER_ACCOUNT, Decimal("100"), True, True),
    ("WONKA", TopUpMethod.MASTER_ACCOUNT, Decimal("120"), False, True),
]


def _threshold(usable: Decimal, due: bool) -> Decimal:
    """A threshold that puts the organization at or below it (due) or comfortably above it."""
    if due or usable <= Decimal("40"):
        return (max(usable, Decimal("0")) + Decimal("25")).quantize(CENT, rounding=ROUND_DOWN)
    return (usable / 2).quantize(CENT, rounding=ROUND_DOWN)


def seed(stdout) -> str:
    made = 0
    for code, method, trigger, enabled, due in PLAN:
        customer = Customer.objects.filter(code=code).first()
        if customer is None or PaymentSettings.objects.filter(customer=customer).exists():
            continue
        try:
            payment_settings_update(customer_id=customer.pk, method=method, trigger_amount=trigger,
                                    limit_threshold=_threshold(customer.usable_credits, due),
                                    auto_top_up_enabled=enabled, actor=ACTOR)
        except PaymentSettingsError as error:
            stdout.write(f"  payment settings of {code} not set: {error}")
            continue
        made += 1
    runs = 0
    if made and not AutoTopUpRun.objects.exists():
        run = run_daily_auto_top_up(run_date=timezone.localdate(), actor=ACTOR, trigger=AutoTopUpTrigger.COMMAND,
                                    email_via_celery=False)
        runs = 1
        stdout.write(f"  auto top-up {run.run_date}: {run.fired_count} topped up, {run.failed_count} failed, "
                     f"{run.skipped_count} skipped")
    return f"{made} payment settings, {runs} auto top-up run"
