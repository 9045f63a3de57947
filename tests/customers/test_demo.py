import pytest
from django.contrib.auth import get_user_model

from customers import demo
from customers.models import AccountType, Customer, InvoiceSetup, MasterWallet, Subscription, Transaction
from customers.selectors import ledger_mismatches

pytestmark = pytest.mark.django_db


class _Out:
    def write(self, *args):
        pass


def test_seeds_every_kind_of_customer_consistently_and_only_once():
    summary = demo.seed(_Out())
    assert summary.startswith("36 customers")
    kinds = set(Customer.objects.values_list("account_type", "invoice_setup"))
    assert kinds == {(a, s) for a in AccountType.values for s in InvoiceSetup.values}
    assert Customer.objects.filter(currency="USD").count() == 5
    assert Transaction.objects.count() > 5000
    assert Subscription.objects.filter(renewal_cost__gt=models_F("renewal_price")).exists()
    assert MasterWallet.objects.filter(balance__gt=0).count() == 2
    assert all(c.usable_credits >= 0 for c in Customer.objects.all())
    assert ledger_mismatches() == []
    acme = Customer.objects.get(code="ACME")
    user = get_user_model().objects.get(username="acme")
    assert user.check_password("ledgerdesk-customer")
    assert user.customer_membership.customer == acme and not user.is_staff

    counts = (Customer.objects.count(), Transaction.objects.count(), Subscription.objects.count())
    assert demo.seed(_Out()) == "0 customers, 0 ledger entries"
    assert counts == (Customer.objects.count(), Transaction.objects.count(), Subscription.objects.count())


def models_F(name):
    from django.db.models import F

    return F(name)
