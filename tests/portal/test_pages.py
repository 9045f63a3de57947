"""The portal pages show the signed-in customer's own figures and lists, with filters, CSV and a constant
number of queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from customers.models import NotificationKind, TransactionKind
from customers.services import master_wallet_transfer
from tests.customers.factories import NotificationFactory, funded_wallet, ledger_post, top_up
from tests.finance.factories import monthly_invoice, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db

STAFF = Actor(kind="staff", label="finance-jane", user_id=99)


class TestHome:
    def test_shows_usable_credits_balance_open_invoices_and_latest_transactions(self, portal_client, acme):
        top_up(acme, "100")
        invoice = purchase_invoice(acme, "30")
        html = portal_client.get(reverse("portal:home")).content.decode()
        assert "Usable credits" in html and "100.00 SGD <b>CR</b>" in html  # usable: the 100 top-up
        assert "70.00 SGD <b>CR</b>" in html  # current balance: 100 - 30
        assert invoice.number in html and f'href="{reverse("portal:invoice-pay", args=[invoice.pk])}"' in html
        assert "Invoice issued" in html and "Top-up" in html

    def test_a_debt_shows_red_dr(self, portal_client, acme):
        purchase_invoice(acme, "30")
        html = portal_client.get(reverse("portal:home")).content.decode()
        assert '<span class="amount dr">-30.00 SGD <b>DR</b></span>' in html

    def test_hides_invoices_when_the_portal_setting_says_so(self, portal_client, acme):
        invoice = purchase_invoice(acme, "30")
        acme.show_invoices_tab = False
        acme.save(update_fields=["show_invoices_tab"])
        html = portal_client.get(reverse("portal:home")).content.decode()
        assert "Open invoices" not in html and reverse("portal:invoice-list") not in html
        assert reverse("portal:invoice-pay", args=[invoice.pk]) not in html


class TestInvoiceList:
    def test_lists_only_the_customers_issued_invoices_with_pay_only_on_open_purchase_ones(
            self, portal_client, acme, globex):
        purchase = purchase_invoice(acme, "30")
        draft = purchase_invoice(acme, "31", sent=False)
        monthly = monthly_invoice(acme, "40")
        top = top_up_invoice(acme, "50")
        foreign = purchase_invoice(globex, "60")
        html = portal_client.get(reverse("portal:invoice-list")).content.decode()
        for shown in (purchase, monthly, top):
            assert shown.number in html and reverse("portal:invoice-pdf", args=[shown.pk]) in html
        assert draft.number not in html and foreign.number not in html
        assert reverse("portal:invoice-pay", args=[purchase.pk]) in html
        assert reverse("portal:invoice-pay", args=[monthly.pk]) not in html
        assert reverse("portal:invoice-pay", args=[top.pk]) not in html

    def test_filters_by_type_status_and_search(self, portal_client, acme):
        purchase = purchase_invoice(acme, "30")
        monthly = monthly_invoice(acme, "40")
        html = portal_client.get(reverse("portal:invoice-list"), {"type": "monthly"}).content.decode()
        assert monthly.number in html and purchase.number not in html
        html = portal_client.get(reverse("portal:invoice-list"), {"status": "paid"}).content.decode()
        assert "No invoices match" in html
        html = portal_client.get(reverse("portal:invoice-list"), {"q": purchase.number}).content.decode()
        assert purchase.number in html and monthly.number not in html

    def test_htmx_gets_only_the_table(self, portal_client, acme):
        purchase_invoice(acme, "30")
        html = portal_client.get(reverse("portal:invoice-list"), HTTP_HX_REQUEST="true").content.decode()
        assert html.lstrip().startswith('<div id="invoice-table"') and "<html" not in html

    def test_csv_export_of_the_filtered_rows(self, portal_client, acme, globex):
        purchase = purchase_invoice(acme, "30")
        purchase_invoice(globex, "60")
        response = portal_client.get(reverse("portal:invoice-list"), {"format": "csv"})
        body = b"".join(response.streaming_content).decode()
        lines = body.strip().splitlines()
        assert lines[0].startswith("Number,Type") and len(lines) == 2 and purchase.number in lines[1]

    def test_constant_queries_with_many_invoices(self, portal_client, acme, django_assert_max_num_queries):
        for _ in range(30):
            purchase_invoice(acme, "1")
        with django_assert_max_num_queries(8):
            response = portal_client.get(reverse("portal:invoice-list"))
        assert response.status_code == 200 and response.context["page"].paginator.count == 30

    def test_the_pdf_downloads(self, portal_client, acme):
        invoice = purchase_invoice(acme, "30")
        response = portal_client.get(reverse("portal:invoice-pdf", args=[invoice.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'

    def test_hidden_tab_means_404_on_every_invoice_url(self, portal_client, acme):
        invoice = purchase_invoice(acme, "30")
        acme.show_invoices_tab = False
        acme.save(update_fields=["show_invoices_tab"])
        html = portal_client.get(reverse("portal:home")).content.decode()
        assert ">Invoices</a>" not in html
        for name in ("portal:invoice-pdf", "portal:invoice-pay"):
            assert portal_client.get(reverse(name, args=[invoice.pk])).status_code == 404
        assert portal_client.get(reverse("portal:invoice-list")).status_code == 404
        assert portal_client.post(reverse("portal:invoice-pay", args=[invoice.pk])).status_code == 404
        assert portal_client.post(reverse("portal:invoice-pay-card", args=[invoice.pk]),
                                  {"amount": "30"}).status_code == 404
        invoice.refresh_from_db()
        assert invoice.amount_paid == 0


class TestTransactions:
    def test_latest_hundred_without_zeros_grouped_by_type(self, portal_client, acme, django_assert_max_num_queries):
        start = timezone.now() - dt.timedelta(days=1)
        top_up(acme, "500", at=start)
        for i in range(120):
            ledger_post(acme, TransactionKind.CALL, Decimal("-0.10"), at=start + dt.timedelta(minutes=i + 1))
        ledger_post(acme, TransactionKind.SMS, Decimal("0"), at=timezone.now())
        with django_assert_max_num_queries(8):
            response = portal_client.get(reverse("portal:transactions"))
        rows = response.context["transactions"]
        assert len(rows) == 100 and all(t.amount != 0 for t in rows)
        assert all(t.kind == TransactionKind.CALL for t in rows)  # the top-up is older than the 100 latest
        groups = {g["kind"]: (g["count"], g["total"]) for g in response.context["groups"]}
        assert groups == {"call": (100, Decimal("-10"))}
        only = portal_client.get(reverse("portal:transactions"), {"kind": "top_up"}).context["transactions"]
        assert [t.amount for t in only] == [Decimal("500")]

    def test_csv(self, portal_client, acme):
        top_up(acme, "12.5")
        response = portal_client.get(reverse("portal:transactions"), {"format": "csv"})
        body = b"".join(response.streaming_content).decode()
        assert "Top-up" in body and "12.500000" in body and ",CR" in body


    def test_a_master_account_transfer_reads_in_the_customers_words_not_our_wallets_name(self, portal_client, acme):
        """Issue 19: the transfer's description was "From Master SGD 1", the operator's wallet."""
        wallet = funded_wallet("100", name="Master SGD ops float")
        master_wallet_transfer(customer_id=acme.pk, amount=Decimal("40"), actor=STAFF, at=timezone.now())
        html = portal_client.get(reverse("portal:transactions")).content.decode()
        home = portal_client.get(reverse("portal:home")).content.decode()
        body = b"".join(portal_client.get(reverse("portal:transactions"), {"format": "csv"}).streaming_content)
        for text in (html, home, body.decode()):
            assert "Top-up from master account" in text and wallet.name not in text and "ops float" not in text
        event = AuditEvent.objects.get(action="customers.master_wallet.transfer")
        assert event.after["wallet"] == wallet.name  # staff still see which wallet paid (the audit trail)

    def test_a_transfer_stored_with_the_old_wallet_reference_reads_the_same(self, portal_client, acme):
        """Rows written before the fix keep "From <wallet>" (the ledger is immutable); the portal relabels them."""
        old = ledger_post(acme, TransactionKind.TRANSFER, Decimal("25"), reference="From Master SGD 1",
                          source_type="customers.masterwallet", source_id=1)
        html = portal_client.get(reverse("portal:transactions")).content.decode()
        body = b"".join(portal_client.get(reverse("portal:transactions"), {"format": "csv"}).streaming_content)
        for text in (html, body.decode()):
            assert "Top-up from master account" in text and "Master SGD 1" not in text
        old.refresh_from_db()
        assert old.reference == "From Master SGD 1"


class TestNotifications:
    def test_lists_the_customers_notifications_by_type(self, portal_client, acme, globex):
        NotificationFactory(customer=acme, kind=NotificationKind.TWO_FACTOR_CODE, subject="Your sign-in code")
        NotificationFactory(customer=acme, kind=NotificationKind.INVOICE, subject="Invoice INV-1")
        NotificationFactory(customer=globex, subject="Globex private")
        html = portal_client.get(reverse("portal:notifications")).content.decode()
        assert "Your sign-in code" in html and "Invoice INV-1" in html and "Globex private" not in html
        html = portal_client.get(reverse("portal:notifications"), {"kind": "two_factor_code"}).content.decode()
        assert "Your sign-in code" in html and "Invoice INV-1" not in html


class TestAuditTrail:
    def test_shows_the_customers_own_events_with_staff_shown_by_role(self, portal_client, acme, globex):
        from audit.services import audit_record_access
        from customers.services import customer_update

        customer_update(customer_id=acme.pk, name="Acme Renamed",
                        actor=Actor(kind="staff", label="finance-jane", user_id=99))
        audit_record_access(actor=Actor(kind="customer", label="acme-portal"), action="access.sign_in",
                            customer_id=acme.pk)
        customer_update(customer_id=globex.pk, name="Globex Renamed",
                        actor=Actor(kind="staff", label="finance-jane", user_id=99))
        html = portal_client.get(reverse("portal:audit")).content.decode()
        assert "Account details changed" in html and "Acme Renamed" in html
        assert "Finance team" in html and "finance-jane" not in html
        assert "Signed in to the portal" in html and "acme-portal" in html
        assert "Globex Renamed" not in html


class TestContentSecurityPolicy:
    def test_only_the_pages_whose_form_leads_to_checkout_allow_its_origin(self, portal_client, acme, fake_stripe):
        invoice = purchase_invoice(acme, "30")
        for url in (reverse("portal:top-up"), reverse("portal:invoice-pay", args=[invoice.pk])):
            policy = portal_client.get(url)["Content-Security-Policy"]
            assert f"form-action 'self' {fake_stripe.url}" in policy, policy
        policy = portal_client.get(reverse("portal:home"))["Content-Security-Policy"]
        assert fake_stripe.url not in policy and "script-src 'self'" in policy

    def test_with_the_real_stripe_it_is_stripes_checkout(self, portal_client, settings):
        settings.STRIPE_API_BASE = ""
        policy = portal_client.get(reverse("portal:top-up"))["Content-Security-Policy"]
        assert "https://checkout.stripe.com" in policy


class TestListsScale:
    def test_notifications_and_audit_pages_keep_a_constant_number_of_queries(
            self, portal_client, acme, django_assert_max_num_queries):
        from audit.services import audit_record_access

        for i in range(40):
            NotificationFactory(customer=acme, subject=f"Notice {i}")
            audit_record_access(actor=Actor(kind="customer", label="acme-portal"), action="access.sign_in",
                                customer_id=acme.pk)
        with django_assert_max_num_queries(7):
            notifications = portal_client.get(reverse("portal:notifications"))
        with django_assert_max_num_queries(7):
            audit = portal_client.get(reverse("portal:audit"))
        assert notifications.context["page"].paginator.count == 40
        assert audit.context["page"].paginator.count == 41  # and the portal user's creation
        assert len(audit.context["page"].object_list) == 25
