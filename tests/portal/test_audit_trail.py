"""The customer's audit trail (/portal/audit/ and its CSV) shows what happened to their account in their words:
only the actions and fields of the allow-list (portal/audit_visibility.py), nothing about drafts, human
labels, and times with their zone."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from audit.actors import Actor
from customers.services import master_wallet_transfer, subscription_create
from finance.models import PaymentSettings
from invoices.services.lifecycle import invoice_mark_sent
from invoices.services.renewals import subscription_renew
from tests.audit.helpers import record
from tests.customers.factories import funded_wallet
from tests.finance.factories import payment, purchase_invoice

pytestmark = pytest.mark.django_db

STAFF = Actor(kind="staff", label="finance-jane", user_id=99, ip="203.0.113.77")
AT = dt.datetime(2026, 12, 7, 6, 5, 9, tzinfo=dt.UTC)  # 14:05:09 in Singapore


def _page(client, **params) -> str:
    return client.get(reverse("portal:audit"), params).content.decode()


def _csv(client, **params) -> list[list[str]]:
    response = client.get(reverse("portal:audit"), {**params, "format": "csv"})
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode()
                                       if response.streaming else response.content.decode())))


class TestOperatorFieldsNeverShow:
    def test_a_master_account_transfer_shows_the_amount_but_not_the_wallets_balance(self, portal_client, acme):
        funded_wallet("5000")  # the operator's wallet: 5,000.00 before, 4,960.00 after
        master_wallet_transfer(customer_id=acme.pk, amount=Decimal("40"), actor=STAFF, at=AT)
        html = _page(portal_client)
        assert "Master account transfer" in html and "40.00 SGD" in html
        assert "5,000.00" not in html and "4,960.00" not in html and "5000.000000" not in html
        assert "wallet" not in html.lower().replace("master account", "")
        rows = _csv(portal_client)
        assert rows[1][2] == "Master account transfer" and "Amount: 40.00 SGD" in rows[1][4]
        assert not any("4960" in cell or "4,960" in cell or "5000" in cell for row in rows for cell in row)

    def test_a_subscription_and_its_renewal_show_the_price_but_never_our_cost_or_margin(self, portal_client, acme):
        sub = subscription_create(customer_id=acme.pk, product="SIP trunk", renewal_date=dt.date(2026, 4, 1),
                                  renewal_price=Decimal("30"), renewal_cost=Decimal("17.25"), actor=STAFF, at=AT)
        subscription_renew(subscription_id=sub.pk, on_date=dt.date(2026, 4, 1), actor=Actor.system("renewals"),
                           via_celery=False, send_email=False)
        html = _page(portal_client)
        assert "Subscription added" in html and "Subscription renewed" in html
        assert "Renewal price" in html and "30.00 SGD" in html
        for leak in ("17.25", "12.75", "margin", "Margin", "cost", "renewal_cost"):
            assert leak not in html, leak
        text = "\n".join(",".join(row) for row in _csv(portal_client))
        assert "Subscription renewed" in text and "17.25" not in text and "12.75" not in text
        assert "margin" not in text.lower() and "cost" not in text.lower()

    def test_an_update_of_only_hidden_fields_is_not_shown_as_an_empty_change(self, portal_client, acme):
        record(actor=STAFF, action="customers.subscription.update", app="customers",
                     object_type="customers.subscription", object_id="1",
                     customer_id=acme.pk, before={"renewal_cost": "17.25", "margin": "12.75"},
                     after={"renewal_cost": "20", "margin": "10"})
        html = _page(portal_client)
        assert "Subscription changed" not in html and "subscription" not in html.lower() and "17.25" not in html

    def test_staff_ips_reasons_and_stripe_ids_never_show(self, portal_client, acme):
        record(actor=STAFF, action="finance.card_payment.fail", app="finance",
                     object_type="finance.cardpayment", object_id="4",
                     customer_id=acme.pk, reason="internal: customer on the watch list",
                     before={"status": "pending"},
                     after={"status": "failed", "failure_code": "generic_decline",
                            "failure_reason": "Your card was declined.", "payment_intent_id": "pi_secret123"})
        html = _page(portal_client)
        assert "Card payment failed" in html and "Your card was declined." in html and "Failed" in html
        for leak in ("203.0.113.77", "watch list", "pi_secret123", "generic_decline", "finance-jane"):
            assert leak not in html, leak


class TestAllowListNotDenyList:
    def test_an_action_nobody_classified_is_not_shown_at_all(self, portal_client, acme):
        event = record(actor=STAFF, action="finance.secret.thing", app="finance", object_type="finance.secret",
                     object_id="1", customer_id=acme.pk,
                     after={"amount": "1.00"})
        html = _page(portal_client)
        assert f'data-event="{event.pk}"' not in html and "finance.secret.thing" not in html
        assert 'data-event="' in html  # the page does list the customer's other events (their portal user)
        assert not any("secret" in cell.lower() for row in _csv(portal_client) for cell in row)

    def test_a_field_not_listed_is_never_shown_even_on_a_shown_action(self, portal_client, acme):
        record(actor=STAFF, action="finance.payment.update", app="finance", object_type="finance.payment",
                     object_id="8", customer_id=acme.pk,
                     before={"amount": "10", "remark": "slow payer"}, after={"amount": "12", "remark": "chased"})
        html = _page(portal_client)
        assert "Payment corrected" in html and "10.00 SGD" in html and "12.00 SGD" in html
        assert "slow payer" not in html and "chased" not in html and "remark" not in html.lower()
        rows = _csv(portal_client)
        assert rows[1][4] == "Amount: 10.00 SGD -> 12.00 SGD"


class TestDrafts:
    def test_a_draft_invoices_events_are_absent_and_its_issue_is_shown(self, portal_client, acme):
        draft = purchase_invoice(acme, "31.50", sent=False)
        html = _page(portal_client)
        assert draft.number not in html and "31.50" not in html and "Cloud PBX seats" not in html
        assert not any(draft.number in cell for row in _csv(portal_client) for cell in row)
        assert "Nothing recorded yet." in _page(portal_client, q=draft.number)  # nor found by a search

        invoice_mark_sent(invoice_id=draft.pk, actor=STAFF)
        html = _page(portal_client)
        assert "Invoice issued" in html and draft.number in html and "31.50 SGD" in html
        assert "Invoice created" not in html and "Draft" not in html  # its creation was a draft's event

    def test_a_deleted_draft_leaves_nothing(self, portal_client, acme):
        event = record(actor=STAFF, action="invoices.invoice.create", app="invoices", object_type="invoices.invoice",
                     object_id="77", customer_id=acme.pk,
                     before={"status": "draft", "total": "9.00"}, after={"deleted": True})
        html = _page(portal_client)
        assert f'data-event="{event.pk}"' not in html and "9.00" not in html and "draft" not in html.lower()


class TestWords:
    def test_actions_read_as_labels_not_codes(self, portal_client, acme):
        funded_wallet("100")
        master_wallet_transfer(customer_id=acme.pk, amount=Decimal("40"), actor=STAFF, at=AT)
        purchase_invoice(acme, "30")
        html = _page(portal_client)
        assert "Master account transfer" in html and "Invoice issued" in html
        assert not re.search(r"(customers|finance|invoices|access)\.[a-z_]+\.", html)

    def test_the_time_shown_names_its_zone_and_the_csv_is_iso_8601_with_the_offset(self, portal_client, acme):
        funded_wallet("100")
        master_wallet_transfer(customer_id=acme.pk, amount=Decimal("40"), actor=STAFF, at=AT)
        html = _page(portal_client)
        assert "2026-12-07 14:05:09 +08:00" in html  # 06:05:09 UTC, in the operator's Asia/Singapore
        assert "Times are Asia/Singapore (UTC+08:00)" in html and "UTC)" not in html.replace("UTC+08:00)", "")
        assert 'datetime="2026-12-07T06:05:09+00:00"' in html
        rows = _csv(portal_client)
        assert rows[0][0] == "Time" and rows[1][0] == "2026-12-07T14:05:09+08:00"

    def test_the_search_finds_what_the_page_shows_not_codes_or_hidden_fields(self, portal_client, acme):
        funded_wallet("100", name="Operator float")
        master_wallet_transfer(customer_id=acme.pk, amount=Decimal("40"), actor=STAFF, at=AT)
        assert "Master account transfer" in _page(portal_client, q="master account")
        assert "Master account transfer" in _page(portal_client, q="TRANSFER")
        assert "Master account transfer" not in _page(portal_client, q="master_wallet")  # the code
        assert "Master account transfer" not in _page(portal_client, q="Operator float")  # a hidden field

    def test_a_removed_card_reads_as_the_card_and_what_became_of_auto_top_up(self, portal_client, acme):
        record(actor=Actor(kind="customer", label="acme-portal"), action="finance.saved_card.remove",
               app="finance", object_type="customers.customer", object_id=acme.pk, customer_id=acme.pk,
               before={"card": "Visa ending 4242, expires 12/2030", "auto_top_up_enabled": True},
               after={"card": "", "auto_top_up_enabled": False})
        rows = _csv(portal_client)
        assert rows[1][1:3] == ["acme-portal", "Saved card removed"]
        assert rows[1][4] == "Card: Visa ending 4242, expires 12/2030 -> None; Automatic top-up: Yes -> No"

    def test_a_card_payment_the_processor_refused_shows_our_words_not_its_error(self, portal_client, acme):
        record(actor=Actor(kind="customer", label="acme-portal"), action="finance.card_payment.start_failed",
               app="finance", object_type="customers.customer", object_id=acme.pk, customer_id=acme.pk,
               reason="Stripe: Invalid API Key provided: sk_live_****1234",
               after={"amount": "25", "currency": "SGD", "invoice": "",
                      "processor_error": "Invalid API Key provided: sk_live_****1234",
                      "processor_code": "api_key_invalid"})
        html = _page(portal_client)
        assert "Card payment could not be started" in html and "25.00 SGD" in html
        assert "API Key" not in html and "sk_live" not in html and "api_key_invalid" not in html


class TestTheObjectInTheCustomersWords:
    def test_a_transfer_reads_as_money_without_our_row_id(self, portal_client, acme):
        """Issue 19: the Object column read "Transfer from master account 1234.567891 13"."""
        funded_wallet("5000")
        row = master_wallet_transfer(customer_id=acme.pk, amount=Decimal("1234.567891"), actor=STAFF, at=AT)
        html = _page(portal_client)
        assert "Transfer from master account 1,234.567891 SGD" in html
        assert f"1234.567891 {acme.pk}" not in html and f"1234.567891 {row.pk}" not in html
        rows = _csv(portal_client)
        assert rows[1][3] == "Transfer from master account 1,234.567891 SGD"

    def test_a_payment_and_its_settings_name_no_row_ids(self, portal_client, acme):
        paid = payment(acme, "30")
        settings = PaymentSettings.objects.get_or_create(customer=acme, defaults={"updated_at": AT})[0]
        record(actor=STAFF, action="finance.payment.assign", obj=paid, customer_id=acme.pk, after={"amount": "30"})
        record(actor=STAFF, action="finance.payment_settings.update", obj=settings, customer_id=acme.pk,
               after={"trigger_amount": "30"})
        html = _page(portal_client)
        assert "Payment 30.00 SGD" in html and f"#{paid.pk}" not in html and "30.000000" not in html
        assert "Payment settings" in html and f"customer {acme.pk}" not in html
