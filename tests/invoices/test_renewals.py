"""Subscription renewals: the charge, the purchase invoice for `individual` customers, idempotence."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from customers.models import InvoiceSetup, Transaction
from invoices.models import Invoice, InvoiceStatus, InvoiceType
from invoices.services import RenewalError, renew_due_subscriptions, subscription_renew
from invoices.services.renewals import add_months
from tests.customers.factories import CustomerFactory, SubscriptionFactory
from tests.invoices.conftest import assert_ledger_consistent
from tests.invoices.factories import SYSTEM

pytestmark = pytest.mark.django_db
D = Decimal
APR1 = dt.date(2026, 4, 1)


def renew(on_date=APR1):
    return renew_due_subscriptions(on_date=on_date, actor=SYSTEM, via_celery=False)


class TestIndividualCustomer:
    def test_posts_the_charge_and_issues_a_purchase_invoice_billing_it(self, customer):
        sub = SubscriptionFactory(customer=customer, product="Cloud PBX seat", quantity=3,
                                  renewal_price=D("20.00"), renewal_date=APR1)
        result = renew()
        assert result.renewed == 1 and result.failed == []
        sub.refresh_from_db()
        assert sub.renewal_date == dt.date(2026, 5, 1)
        (charge,) = Transaction.objects.filter(kind="subscription")
        assert (charge.amount, charge.idempotency_key) == (D("-60"), f"renewal:{sub.pk}:2026-04-01")
        invoice = Invoice.objects.get(source_key=f"renewal:{sub.pk}:2026-04-01")
        assert (invoice.type, invoice.status, invoice.total) == (InvoiceType.PURCHASE, InvoiceStatus.SENT, D("65.4"))
        (line,) = invoice.lines.all()
        assert (line.transaction_id, line.quantity, line.unit_price) == (charge.pk, D(3), D("20"))
        assert "01 Apr 2026 – 30 Apr 2026" in line.description
        assert charge.billed_document == invoice.number
        customer.refresh_from_db()
        assert customer.amount_unbilled == 0 and customer.amount_due == D("-65.4")
        assert_ledger_consistent(customer)
        (event,) = AuditEvent.objects.filter(action="invoices.subscription.renew")
        assert event.after["invoice"] == invoice.number and event.before["renewal_date"] == "2026-04-01"

    def test_is_idempotent_per_subscription_and_period(self, customer):
        SubscriptionFactory(customer=customer, renewal_date=APR1)
        renew()
        again = renew()
        assert again.renewed == 0
        assert Invoice.objects.count() == 1 and Transaction.objects.filter(kind="subscription").count() == 1

    def test_a_subscription_behind_catches_up_period_by_period(self, customer):
        sub = SubscriptionFactory(customer=customer, renewal_date=dt.date(2026, 1, 31), period_months=1)
        assert renew(dt.date(2026, 3, 31)).renewed == 3  # 31 Jan, 28 Feb, 28 Mar
        sub.refresh_from_db()
        assert sub.renewal_date == dt.date(2026, 4, 28)
        assert Invoice.objects.count() == 3


class TestOtherSetups:
    @pytest.mark.parametrize("setup", [InvoiceSetup.CONSOLIDATED, InvoiceSetup.NONE])
    def test_posts_an_unbilled_charge_and_no_invoice(self, setup):
        c = CustomerFactory(invoice_setup=setup)
        SubscriptionFactory(customer=c, renewal_price=D("15"), renewal_date=APR1)
        assert renew().renewed == 1
        assert not Invoice.objects.exists()
        c.refresh_from_db()
        assert c.amount_unbilled == D("-15") and c.amount_due == 0
        assert_ledger_consistent(c)


class TestRefusals:
    def test_a_subscription_not_due_yet(self, customer):
        sub = SubscriptionFactory(customer=customer, renewal_date=dt.date(2026, 4, 2))
        assert renew().renewed == 0
        with pytest.raises(RenewalError, match="not due until 02 Apr 2026"):
            subscription_renew(subscription_id=sub.pk, on_date=APR1, actor=SYSTEM)
        assert not Transaction.objects.exists()

    def test_an_inactive_subscription(self, customer):
        sub = SubscriptionFactory(customer=customer, renewal_date=APR1, is_active=False)
        assert renew().renewed == 0
        with pytest.raises(RenewalError, match="not active"):
            subscription_renew(subscription_id=sub.pk, on_date=APR1, actor=SYSTEM)

    def test_an_unknown_subscription(self, db):
        with pytest.raises(RenewalError, match="no subscription #777"):
            subscription_renew(subscription_id=777, on_date=APR1, actor=SYSTEM)


class TestCommandAndDates:
    def test_the_command_renews_once(self, customer, capsys):
        SubscriptionFactory(customer=customer, renewal_date=APR1)
        call_command("renew_subscriptions", "--date", "2026-04-01", "--email-now")
        call_command("renew_subscriptions", "--date", "2026-04-01", "--email-now")
        out = capsys.readouterr().out
        assert "2026-04-01: 1 renewals" in out and "2026-04-01: 0 renewals" in out
        assert Invoice.objects.count() == 1

    def test_the_command_refuses_a_bad_date(self, db):
        from django.core.management.base import CommandError

        with pytest.raises(CommandError, match="YYYY-MM-DD"):
            call_command("renew_subscriptions", "--date", "1 April")

    @pytest.mark.parametrize("day, months, expected", [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)), (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2026, 11, 15), 3, dt.date(2027, 2, 15)), (dt.date(2026, 3, 1), 12, dt.date(2027, 3, 1)),
    ])
    def test_add_months(self, day, months, expected):
        assert add_months(day, months) == expected
