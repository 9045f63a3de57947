from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from customers.models import AccountType, Customer, CustomerUser, InvoiceSetup, TransactionKind
from customers.services import CustomerError, customer_create, customer_update, customer_user_create
from tests.customers.factories import SYSTEM, ledger_post, postpaid, prepaid

pytestmark = pytest.mark.django_db
D = Decimal


def create(**kwargs):
    data = {"name": "Acme Pte Ltd", "code": "acme", "billing_email": "ap@acme.test", "actor": SYSTEM}
    return customer_create(**{**data, **kwargs})


class TestCustomerCreate:
    def test_creates_an_empty_account_and_one_audit_event(self):
        customer = create(account_type=AccountType.POSTPAID, credit_limit=D("250"),
                          invoice_setup=InvoiceSetup.CONSOLIDATED, currency="usd")
        assert customer.code == "ACME" and customer.currency == "USD"
        assert customer.credit_limit == D("250") and customer.usable_credits == D("250")
        (event,) = AuditEvent.objects.filter(action="customers.customer.create")
        assert event.customer_id == customer.pk and event.after["credit_limit"] == "250.000000"

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"name": " "}, "name is required"),
        ({"code": "no spaces"}, "letters, digits"),
        ({"billing_email": "not-an-email"}, "not a valid email"),
        ({"currency": "dollars"}, "three-letter ISO 4217"),
        ({"account_type": "credit"}, "account type must be one of"),
        ({"invoice_setup": "weekly"}, "invoice setup must be one of"),
        ({"credit_limit": D("-1")}, "Credit limit must be more than zero"),
        ({"credit_limit": D("50")}, "A prepaid account has no credit limit"),
        ({"credit_limit": 12.5}, "not a floating-point number"),
    ])
    def test_refuses_bad_input_with_a_clear_message_and_changes_nothing(self, kwargs, message):
        with pytest.raises(CustomerError, match=message):
            create(**kwargs)
        assert not Customer.objects.exists() and not AuditEvent.objects.exists()

    def test_refuses_a_code_already_in_use(self):
        create()
        with pytest.raises(CustomerError, match="ACME is already used by Acme Pte Ltd"):
            create(name="Other", code="Acme")


class TestCustomerUpdate:
    def test_changes_settings_with_before_and_after_in_one_audit_event(self):
        customer = postpaid("100")
        customer_update(customer_id=customer.pk, credit_limit=D("300"), show_invoices_tab=False,
                        name=customer.name, actor=SYSTEM, reason="Raised after review")
        customer.refresh_from_db()
        assert customer.credit_limit == D("300") and customer.show_invoices_tab is False
        (event,) = AuditEvent.objects.filter(action="customers.customer.update")
        assert event.before == {"credit_limit": "100.000000", "show_invoices_tab": True}
        assert event.after == {"credit_limit": "300.000000", "show_invoices_tab": False}
        assert event.reason == "Raised after review"

    def test_nothing_changed_writes_nothing(self):
        customer = postpaid("100")
        customer_update(customer_id=customer.pk, credit_limit=D("100"), actor=SYSTEM)
        assert not AuditEvent.objects.exists()

    def test_a_prepaid_account_cannot_keep_a_credit_limit(self):
        customer = postpaid("100")
        with pytest.raises(CustomerError, match="prepaid account has no credit limit"):
            customer_update(customer_id=customer.pk, account_type=AccountType.PREPAID, actor=SYSTEM)
        customer_update(customer_id=customer.pk, account_type=AccountType.PREPAID, credit_limit=D("0"), actor=SYSTEM)
        customer.refresh_from_db()
        assert customer.account_type == AccountType.PREPAID

    def test_the_currency_is_fixed_once_there_are_transactions(self):
        customer = prepaid()
        customer_update(customer_id=customer.pk, currency="USD", actor=SYSTEM)
        ledger_post(customer, TransactionKind.TOP_UP, "10")
        with pytest.raises(CustomerError, match="currency cannot change"):
            customer_update(customer_id=customer.pk, currency="EUR", actor=SYSTEM)

    def test_the_running_totals_cannot_be_set_through_it(self):
        with pytest.raises(TypeError):
            customer_update(customer_id=prepaid().pk, amount_due=D("5"), actor=SYSTEM)  # type: ignore[call-arg]

    def test_an_unknown_customer_is_a_clear_error(self):
        with pytest.raises(CustomerError, match="no customer #999999"):
            customer_update(customer_id=999999, name="x", actor=SYSTEM)


class TestCustomerUserCreate:
    def test_creates_a_portal_login_that_is_never_staff(self):
        customer = prepaid()
        membership = customer_user_create(customer_id=customer.pk, username="acme", email="it@acme.test",
                                          password="ledgerdesk-customer", actor=SYSTEM)
        assert membership.customer == customer
        assert membership.user.check_password("ledgerdesk-customer") and not membership.user.is_staff
        assert AuditEvent.objects.filter(action="customers.customer_user.create", customer_id=customer.pk).count() == 1

    def test_refuses_a_taken_username_and_a_weak_password(self):
        customer = prepaid()
        get_user_model().objects.create_user(username="taken")
        with pytest.raises(CustomerError, match="already taken"):
            customer_user_create(customer_id=customer.pk, username="TAKEN", email="", password="long-enough-pw",
                                 actor=SYSTEM)
        with pytest.raises(CustomerError, match="too short"):
            customer_user_create(customer_id=customer.pk, username="new", email="", password="abc", actor=SYSTEM)
        assert not CustomerUser.objects.exists()
