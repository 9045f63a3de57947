"""Demo customers for `manage.py seed_demo`: 36 accounts of every kind (prepaid/postpaid x individual/
consolidated/none, SGD and a few USD) with six months of usage, master-account transfers, purchases,
corrections, reservations in every state, subscriptions (some with a negative margin), notifications, funded
master wallets, and the portal login acme / ledgerdesk-customer for customer ACME.

Everything goes through the services (usage in one batch per customer, so it takes a few seconds), so the
ledger is consistent and audited. Idempotent: an existing customer code, wallet or login is left alone."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.actors import Actor

from .models import AccountType, Customer, InvoiceSetup, MasterWallet, NotificationKind, TransactionKind
from .money import ZERO
from .services import (
    ChargeLine,
    adjustment_post,
    charge_post,
    charge_post_batch,
    customer_create,
    customer_user_create,
    master_wallet_create,
    master_wallet_fund,
    master_wallet_transfer,
    notification_record,
    reservation_commit,
    reservation_release,
    reservation_reserve,
    subscription_create,
)

ACTOR = Actor.system("seed-demo")
PORTAL_USERNAME = "acme"
PORTAL_PASSWORD = "ledgerdesk-customer"  # noqa: S105 - a documented demo login
WALLETS = {"SGD": ("Master account SGD", Decimal("1000000")), "USD": ("Master account USD", Decimal("250000"))}
MONTHS = 6

NAMES = [
    ("ACME", "Acme Pte Ltd"), ("GLOBEX", "Globex Asia"), ("INITECH", "Initech Singapore"), ("UMBRELLA", "Umbrella Logistics"),
    ("HOOLI", "Hooli Pte Ltd"), ("STARK", "Stark Trading"), ("WAYNE", "Wayne Holdings"), ("WONKA", "Wonka Foods"),
    ("TYRELL", "Tyrell Systems"), ("CYBERDYN", "Cyberdyne Robotics"), ("SOYLENT", "Soylent Catering"),
    ("OSCORP", "Oscorp Labs"), ("MASSIVE", "Massive Dynamic"), ("VANDELAY", "Vandelay Industries"),
    ("PIEDPIPR", "Pied Piper Compression"), ("DUNDER", "Dunder Mifflin Paper"), ("BLUTH", "Bluth Properties"),
    ("PRESTIGE", "Prestige Worldwide"), ("GRINGOTT", "Gringotts Finance"), ("MONARCH", "Monarch Travel"),
    ("AVALON", "Avalon Clinics"), ("BANYAN", "Banyan Tree Legal"), ("CAPELLA", "Capella Hotels"),
    ("DURIAN", "Durian Digital"), ("EMERALD", "Emerald Logistics"), ("FLAMINGO", "Flamingo Events"),
    ("GARNET", "Garnet Dental"), ("HARBOUR", "Harbour Marine"), ("IVORY", "Ivory Architects"),
    ("JADE", "Jade Insurance Brokers"), ("KOPI", "Kopi Collective"), ("LOTUS", "Lotus Wellness"),
    ("MERLION", "Merlion Tours"), ("NUTMEG", "Nutmeg Restaurants"), ("ORCHID", "Orchid Florists"),
    ("PANDAN", "Pandan Bakery"),
]
USD_CODES = {"TYRELL", "MASSIVE", "GRINGOTT", "CAPELLA", "JADE"}
KINDS = [(AccountType.PREPAID, s) for s in InvoiceSetup] + [(AccountType.POSTPAID, s) for s in InvoiceSetup]
PRODUCTS = [
    ("Cloud PBX seat", TransactionKind.SUBSCRIPTION, "18.00", "9.50"),
    ("SIP trunk (10 channels)", TransactionKind.SUBSCRIPTION, "120.00", "135.00"),  # sold below cost
    ("Call recording", TransactionKind.ADD_ON, "5.00", "1.20"),
    ("Contact center agent", TransactionKind.SUBSCRIPTION, "65.00", "41.00"),
    ("Virtual number (DID)", TransactionKind.SERVICE, "3.00", "3.40"),  # negative margin
    ("Desk phone lease", TransactionKind.HARDWARE, "12.00", "7.00"),
    ("Microsoft Teams connector", TransactionKind.ADD_ON, "9.00", "4.50"),
]


def _usage_lines(rng: random.Random, now: dt.datetime, scale: Decimal) -> list[ChargeLine]:
    lines = []
    for month in range(MONTHS, 0, -1):
        start = now - dt.timedelta(days=30 * month)
        for n in range(rng.randint(25, 45)):
            at = start + dt.timedelta(days=rng.uniform(0, 29.5))
            kind = rng.choices([TransactionKind.CALL, TransactionKind.SMS, TransactionKind.FAX], [70, 25, 5])[0]
            if kind == TransactionKind.CALL:
                minutes = rng.randint(1, 38)
                amount = (Decimal(minutes) * Decimal("0.0185") * scale).quantize(Decimal("0.000001"))
                desc = f"Outbound call, {minutes} min"
            elif kind == TransactionKind.SMS:
                parts = rng.randint(1, 40)
                amount = (Decimal(parts) * Decimal("0.0421") * scale).quantize(Decimal("0.000001"))
                desc = f"SMS, {parts} part{'s' if parts > 1 else ''}"
            else:
                pages = rng.randint(1, 6)
                amount = (Decimal(pages) * Decimal("0.09") * scale).quantize(Decimal("0.000001"))
                desc = f"Fax, {pages} page{'s' if pages > 1 else ''}"
            lines.append(ChargeLine(kind=kind, amount=amount, occurred_at=at, description=desc,
                                    reference=f"CDR-{at:%y%m%d}-{n:03d}"))
        if rng.random() < 0.3:
            lines.append(ChargeLine(kind=TransactionKind.NUMBER_ACTIVATION, amount=Decimal("10.00"),
                                    occurred_at=start + dt.timedelta(days=2), description="Number activation fee",
                                    reference=f"NUM-{start:%y%m}"))
    return sorted(lines, key=lambda line: line.occurred_at)


def _wallets(now: dt.datetime) -> dict[str, MasterWallet]:
    wallets = {}
    for currency, (name, funding) in WALLETS.items():
        wallet = MasterWallet.objects.filter(name=name).first()
        if wallet is None:
            wallet = master_wallet_create(name=name, currency=currency, actor=ACTOR, at=now)
            master_wallet_fund(wallet_id=wallet.pk, amount=funding, reference="Operator capital (demo)", actor=ACTOR,
                               at=now - dt.timedelta(days=30 * MONTHS + 5))
        wallets[currency] = wallet
    return wallets


def _seed_customer(index: int, code: str, name: str, now: dt.datetime, wallets: dict[str, MasterWallet]) -> int:
    rng = random.Random(f"ledgerdesk-demo-{code}")
    account_type, setup = KINDS[index % len(KINDS)]
    currency = "USD" if code in USD_CODES else "SGD"
    scale = Decimal(rng.choice(["1", "2", "3.5", "6"]))
    lines = _usage_lines(rng, now, scale)
    purchases = rng.sample(PRODUCTS, 2) if setup != InvoiceSetup.INDIVIDUAL else []
    # individual customers' purchases come with their own invoice (the invoices app's demo)
    usage = sum((line.amount for line in lines), ZERO) + sum((Decimal(p[2]) for p in purchases), ZERO)
    credit_limit = ZERO
    if account_type == AccountType.POSTPAID:
        credit_limit = (usage * Decimal("1.6") / 500).quantize(Decimal("1")) * 500 + 500
    customer = customer_create(
        name=name, code=code, billing_email=f"accounts@{code.lower()}.example", currency=currency,
        account_type=account_type, invoice_setup=setup, credit_limit=credit_limit,
        show_invoices_tab=setup != InvoiceSetup.NONE and index % 7 != 3, actor=ACTOR,
        at=now - dt.timedelta(days=30 * MONTHS + 1))
    posted = 0
    if account_type == AccountType.PREPAID:  # monthly credit from the master account, a little ahead of usage
        monthly = ((usage * Decimal("1.25") / MONTHS) / 50).quantize(Decimal("1")) * 50 + 50
        for month in range(MONTHS, 0, -1):
            master_wallet_transfer(customer_id=customer.pk, amount=monthly, wallet_id=wallets[currency].pk,
                                   reference=f"Monthly top-up {(now - dt.timedelta(days=30 * month)):%b %Y}",
                                   actor=ACTOR, at=now - dt.timedelta(days=30 * month))
            posted += 1
    posted += len(charge_post_batch(customer_id=customer.pk, lines=lines, batch_reference=f"demo-usage-{code}",
                                    actor=ACTOR, at=now))
    for product, kind, price, _ in purchases:
        charge_post(customer_id=customer.pk, kind=kind, amount=Decimal(price), reference=product,
                    description=f"{product}, first month", actor=ACTOR, at=now - dt.timedelta(days=rng.randint(3, 60)))
        posted += 1
    if rng.random() < 0.5:  # a call rated twice, reversed by staff
        wrong = charge_post(customer_id=customer.pk, kind=TransactionKind.CALL, amount=Decimal("4.20"),
                            reference="CDR-DUPLICATE", description="Rated twice by the switch", actor=ACTOR,
                            at=now - dt.timedelta(days=9))
        adjustment_post(customer_id=customer.pk, reverses_id=wrong.pk, reason="Duplicate CDR from the switch",
                        actor=ACTOR, at=now - dt.timedelta(days=8))
        posted += 2
    # reservations: some resolved, and a few calls in flight
    for n in range(rng.randint(1, 4)):
        at = now - dt.timedelta(hours=rng.randint(2, 200))
        r = reservation_reserve(customer_id=customer.pk, amount=Decimal("2.00"), reference=f"call-{code}-{n}",
                                actor=ACTOR, at=at, timeout_seconds=900)
        if n % 2 == 0:
            reservation_commit(reservation_id=r.pk, amount=Decimal(rng.randint(10, 200)) / 100, actor=ACTOR,
                               at=at + dt.timedelta(minutes=3), description="Call completed")
            posted += 1
        else:
            reservation_release(reservation_id=r.pk, actor=ACTOR, at=at + dt.timedelta(seconds=20),
                                reason="Call not answered")
    for n in range(rng.randint(0, 2)):
        reservation_reserve(customer_id=customer.pk, amount=Decimal(rng.choice(["1.50", "3.00", "5.00"])),
                            reference=f"call-{code}-live-{n}", actor=ACTOR, at=now, timeout_seconds=24 * 3600)
    for product, kind, price, cost in rng.sample(PRODUCTS, rng.randint(1, 4)):
        subscription_create(customer_id=customer.pk, product=product, kind=kind, quantity=rng.randint(1, 12),
                            period_months=rng.choice([1, 1, 1, 12]), renewal_date=(now + dt.timedelta(
                                days=rng.randint(1, 60))).date(), renewal_price=Decimal(price),
                            renewal_cost=Decimal(cost), actor=ACTOR, at=now)
    for n, (kind, subject) in enumerate(rng.sample([
        (NotificationKind.INVOICE, "Your invoice for last month"),
        (NotificationKind.TWO_FACTOR_CODE, "Your Ledgerdesk sign-in code"),
        (NotificationKind.VERIFICATION_EMAIL, "Please verify your email address"),
        (NotificationKind.SUBSCRIPTION_NOTICE, "Your subscription renews soon"),
        (NotificationKind.TOP_UP, "Your account was topped up"),
        (NotificationKind.PAYMENT_RECEIPT, "Payment received, thank you"),
    ], 4)):
        sms = kind == NotificationKind.TWO_FACTOR_CODE
        notification_record(customer_id=customer.pk, kind=kind, channel="sms" if sms else "email",
                            recipient="+65 8123 4567" if sms else customer.billing_email, subject=subject,
                            status="failed" if (index + n) % 11 == 0 else "sent", actor=ACTOR,
                            at=now - dt.timedelta(days=rng.randint(0, 150), hours=rng.randint(0, 23)))
    return posted


def seed(stdout) -> str:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    wallets = _wallets(now)
    created = posted = 0
    existing = set(Customer.objects.filter(code__in=[c for c, _ in NAMES]).values_list("code", flat=True))
    for index, (code, name) in enumerate(NAMES):
        if code in existing:
            continue
        posted += _seed_customer(index, code, name, now, wallets)
        created += 1
    login = ""
    if not get_user_model().objects.filter(username=PORTAL_USERNAME).exists():
        acme = Customer.objects.get(code="ACME")
        customer_user_create(customer_id=acme.pk, username=PORTAL_USERNAME, email="it@acme.example",
                             password=PORTAL_PASSWORD, actor=ACTOR, at=now)
        login = f", portal login {PORTAL_USERNAME}"
    return f"{created} customers, {posted} ledger entries{login}"
