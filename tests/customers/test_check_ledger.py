"""check_ledger recomputes every customer from the rows: set-based, every mismatch printed, exit 1."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from customers.models import Customer, MasterWallet, Transaction, TransactionKind
from customers.services import reservation_reserve
from tests.customers.factories import NOW, SYSTEM, funded_wallet, ledger_post, postpaid

pytestmark = pytest.mark.django_db
D = Decimal


def run():
    out = StringIO()
    call_command("check_ledger", stdout=out)
    return out.getvalue()


def test_a_consistent_ledger_passes():
    customer = postpaid("100")
    ledger_post(customer, TransactionKind.CALL, "-5")
    reservation_reserve(customer_id=customer.pk, amount=D("3"), actor=SYSTEM, at=NOW)
    assert "Ledger consistent" in run()


def test_every_mismatch_is_printed_and_the_command_fails():
    a, b = postpaid("100", code="AAA"), postpaid("100", code="BBB")
    ledger_post(a, TransactionKind.CALL, "-5")
    ledger_post(b, TransactionKind.PAYMENT, "7")
    # Tamper with the running totals behind the services' back.
    Customer.objects.filter(pk=a.pk).update(amount_unbilled=D("-4"))
    Customer.objects.filter(pk=b.pk).update(amount_due=D("0"), amount_reserved=D("1"))
    out = StringIO()
    with pytest.raises(CommandError, match="3 mismatch"):
        call_command("check_ledger", stdout=out)
    text = out.getvalue()
    assert "customer AAA" in text and "amount_unbilled (expecting invoice) is -4.000000, the rows add up to -5.000000" in text
    assert "customer BBB" in text and "amount_due is 0.000000, the rows add up to 7.000000" in text
    assert "amount_reserved is 1.000000, the rows add up to 0" in text


def test_a_wallet_balance_and_a_one_legged_transfer_are_reported():
    wallet = funded_wallet("50")
    customer = postpaid("10")
    MasterWallet.objects.filter(pk=wallet.pk).update(balance=D("49"))
    ledger_post(customer, TransactionKind.TRANSFER, "5")  # a transfer with no wallet leg
    with pytest.raises(CommandError, match="2 mismatch"):
        call_command("check_ledger", stdout=StringIO())


def test_every_kind_of_broken_transfer_is_named():
    """Both sides of a transfer are read: a customer leg without its wallet leg, a wallet leg without its
    customer leg, and two legs that do not cancel out."""
    from customers.models import MasterWalletEntry
    from customers.selectors import ledger_mismatches

    wallet = funded_wallet("50")
    customer = postpaid("10")
    no_wallet_leg = ledger_post(customer, TransactionKind.TRANSFER, "5")
    uneven = ledger_post(customer, TransactionKind.TRANSFER, "3")
    uneven_leg = MasterWalletEntry.objects.create(wallet=wallet, amount=D("-2"), customer=customer, transaction=uneven,
                                     created_at=NOW)
    orphan = MasterWalletEntry.objects.create(wallet=wallet, amount=D("-4"), customer=customer, created_at=NOW)
    MasterWallet.objects.filter(pk=wallet.pk).update(balance=D("44"))  # keep the wallet's own total right
    details = sorted(m.field for m in ledger_mismatches() if m.what == "transfer")
    assert details == sorted([
        f"transaction #{no_wallet_leg.pk} (5.000000) has no master-wallet leg",
        f"transaction #{uneven.pk} is 3.000000 but its wallet entry #{uneven_leg.pk} is -2.000000",
        f"master-wallet entry #{orphan.pk} (-4.000000) has no customer leg",
    ])


def test_the_check_runs_a_constant_number_of_queries(django_assert_max_num_queries):
    from customers.selectors import ledger_mismatches

    for i in range(30):
        customer = postpaid("100", code=f"Q{i}")
        ledger_post(customer, TransactionKind.CALL, "-1")
    with django_assert_max_num_queries(4):
        assert ledger_mismatches() == []


def test_check_is_fast_on_many_rows():
    """100k customers / 2M transactions in production; here 2,000 customers x 50 rows inserted in bulk
    must check well under a second, so the plan is the set-based one, not a loop."""
    import time

    with connection.cursor() as c:
        c.execute("""
            INSERT INTO customers_customer (name, code, billing_email, currency, account_type, invoice_setup,
                credit_limit, show_invoices_tab, stripe_customer_id, stripe_payment_method_id, card_brand, card_last4,
                amount_unbilled, amount_due, amount_reserved, created_at)
            SELECT 'Bulk ' || g, 'BULK' || g, 'b@x.test', 'SGD', 'postpaid', 'consolidated', 1000, true, '', '', '',
                   '', -50, 0, 0, now()
            FROM generate_series(1, 2000) g""")
        c.execute("""
            INSERT INTO customers_transaction (customer_id, kind, bucket, amount, occurred_at, posted_at, reference,
                description, source_type, billed_document)
            SELECT c.id, 'call', 'unbilled', -1, now(), now(), '', '', '', ''
            FROM customers_customer c CROSS JOIN generate_series(1, 50)
            WHERE c.code LIKE 'BULK%'""")
    assert Transaction.objects.count() == 100_000
    started = time.monotonic()
    assert "Ledger consistent" in run()
    assert time.monotonic() - started < 2
