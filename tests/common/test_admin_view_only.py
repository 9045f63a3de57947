"""Django admin shows every model of our apps view only: no Save, no add, no delete, for superusers too. A
crafted POST to a change page is refused (403): never a 500 from an immutable row, never a "changed
successfully" that wrote nothing. What admin can do stays its actions, which call the services."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse

from customers.models import Customer, MasterWalletEntry, Transaction, TransactionKind
from finance.services.billing import PAYMENT_CASH
from invoices.models import CreditApplication, Invoice, InvoiceLine, InvoiceLineEntry, NumberSeries
from invoices.services import bill_customer_period
from tests.customers.factories import SYSTEM, CustomerFactory, funded_wallet, ledger_post, top_up
from tests.invoices.factories import purchase_invoice, usage

pytestmark = pytest.mark.django_db

OUR_APPS = ("audit", "customers", "invoices", "finance", "portal", "banking", "backoffice")
OUR_MODELS = sorted((m for m in apps.get_models() if m._meta.app_label in OUR_APPS), key=lambda m: m._meta.label)
SGT = ZoneInfo("Asia/Singapore")


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123456")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda m: m._meta.label)
def test_every_model_is_view_only_for_a_superuser(model, superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request) is True
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_delete_permission(request) is False
    for inline in model_admin.get_inline_instances(request):
        assert not (inline.has_change_permission(request) or inline.has_add_permission(request, None)
                    or inline.has_delete_permission(request)), type(inline).__name__


def test_plurals_read_as_english():
    assert MasterWalletEntry._meta.verbose_name_plural == "master wallet entries"
    assert NumberSeries._meta.verbose_name_plural == "number series"
    assert InvoiceLineEntry._meta.verbose_name_plural == "invoice line entries"
    assert [str(m._meta.verbose_name_plural) for m in OUR_MODELS
            if str(m._meta.verbose_name_plural).endswith(("ys", "seriess", ")s"))] == []


def _objects():
    """One row of each model the walk found offering Save: a ledger entry, a master-wallet entry, a customer,
    an invoice, an invoice line and a credit application."""
    customer = CustomerFactory(code="ADMV", name="Admin View Pte Ltd")
    entry = ledger_post(customer, TransactionKind.CALL, "-1")
    wallet_entry = MasterWalletEntry.objects.get(wallet=funded_wallet("10"))
    invoice = purchase_invoice(customer, sent=True)
    line = invoice.lines.first()
    top_up(customer, "5", at=dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT))
    usage(customer, "10", at=dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT))
    bill_customer_period(cash_source=PAYMENT_CASH, customer_id=customer.pk, period="2026-02", actor=SYSTEM,
                         at=dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT), via_celery=False)
    credit = CreditApplication.objects.get(customer=customer)
    return [entry, wallet_entry, customer, invoice, line, credit]


def _url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_change_pages_offer_no_save(admin_client):
    for obj in _objects():
        response = admin_client.get(_url(obj))
        html = response.content.decode()
        assert response.status_code == 200, obj._meta.label
        assert 'name="_save"' not in html and 'name="_continue"' not in html, obj._meta.label
        assert 'name="_addanother"' not in html, obj._meta.label


def test_a_posted_change_is_refused_and_writes_nothing(admin_client):
    edits = {Transaction: {"amount": "-999", "reference": "edited"},
             MasterWalletEntry: {"amount": "999", "reference": "edited"},
             Customer: {"name": "Edited", "credit_limit": "999"},
             Invoice: {"name": "Edited", "total": "999"},
             InvoiceLine: {"description": "Edited", "amount": "999"},
             CreditApplication: {"amount": "999"}}
    for obj in _objects():
        before = model_to_dict(type(obj).objects.get(pk=obj.pk))
        response = admin_client.post(_url(obj), {**edits[type(obj)], "_save": "Save"}, follow=True)
        assert response.status_code == 403, obj._meta.label
        assert "changed successfully" not in response.content.decode(), obj._meta.label
        assert model_to_dict(type(obj).objects.get(pk=obj.pk)) == before, obj._meta.label
