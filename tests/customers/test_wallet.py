from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import Bucket, InvoiceSetup, MasterWalletEntry, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from customers.services import WalletError, master_wallet_create, master_wallet_fund, master_wallet_transfer
from tests.customers.factories import NOW, SYSTEM, funded_wallet, postpaid, prepaid

pytestmark = pytest.mark.django_db
D = Decimal


def transfer(customer, amount, **kwargs):
    return master_wallet_transfer(customer_id=customer.pk, amount=D(amount), actor=SYSTEM, at=NOW, **kwargs)


class TestMasterWallet:
    def test_fund_adds_to_the_balance_with_an_entry_and_an_audit_event(self):
        wallet = master_wallet_create(name="Master SGD", currency="sgd", actor=SYSTEM)
        master_wallet_fund(wallet_id=wallet.pk, amount=D("500"), reference="Bank TT 123", actor=SYSTEM, at=NOW)
        wallet.refresh_from_db()
        assert wallet.currency == "SGD" and wallet.balance == D("500")
        assert AuditEvent.objects.filter(action="customers.master_wallet.fund").count() == 1
        with pytest.raises(WalletError, match="more than zero"):
            master_wallet_fund(wallet_id=wallet.pk, amount=D("-1"), reference="x", actor=SYSTEM, at=NOW)
        with pytest.raises(WalletError, match="already a wallet named"):
            master_wallet_create(name="Master SGD", currency="SGD", actor=SYSTEM)

    def test_transfer_moves_credit_with_both_legs_in_one_transaction(self):
        wallet = funded_wallet("100")
        customer = prepaid(invoice_setup=InvoiceSetup.CONSOLIDATED)
        row = transfer(customer, "40", reference="auto top-up")
        wallet.refresh_from_db()
        customer.refresh_from_db()
        assert wallet.balance == D("60")
        assert row.kind == TransactionKind.TRANSFER and row.amount == D("40") and row.bucket == Bucket.UNBILLED
        assert row.master_wallet_entry.amount == D("-40")
        assert customer.usable_credits == D("40")
        assert AuditEvent.objects.filter(action="customers.master_wallet.transfer", customer_id=customer.pk).count() == 1
        assert ledger_mismatches() == []

    def test_for_an_individual_customer_the_credit_stays_in_the_amount_due(self):
        funded_wallet("100")
        customer = prepaid(invoice_setup=InvoiceSetup.INDIVIDUAL)
        row = transfer(customer, "40")
        customer.refresh_from_db()
        assert row.bucket == Bucket.DUE and customer.amount_due == D("40") and customer.usable_credits == D("40")

    def test_never_below_zero(self):
        funded_wallet("30")
        customer = postpaid("10")
        with pytest.raises(WalletError, match=r"holds only 30.00 SGD: 30.01 SGD cannot be transferred"):
            transfer(customer, "30.01")
        transfer(customer, "30")
        assert not Transaction.objects.filter(amount=D("30.01")).exists()
        assert MasterWalletEntry.objects.filter(customer=customer).count() == 1

    def test_the_currency_must_match(self):
        funded_wallet("100", currency="USD")
        customer = prepaid()
        with pytest.raises(WalletError, match="no master wallet in SGD"):
            transfer(customer, "1")
        usd = funded_wallet("100", currency="USD", name="Other USD")
        with pytest.raises(WalletError, match="holds USD"):
            transfer(customer, "1", wallet_id=usd.pk)

    def test_the_same_idempotency_key_transfers_once(self):
        wallet = funded_wallet("100")
        customer = prepaid()
        a = transfer(customer, "10", idempotency_key="auto-top-up:1:2026-03-15")
        b = transfer(customer, "10", idempotency_key="auto-top-up:1:2026-03-15")
        wallet.refresh_from_db()
        assert a.pk == b.pk and wallet.balance == D("90")
