"""The portal's "Pay selected" (issue 19): checkboxes on payable rows of the invoice list, a confirm page
with the credits applied first and the card shortfall (in the currency's minor unit), one click with
credits when they cover everything, else one Checkout for the shortfall; the card result page names each
invoice paid and what stayed as credit. Hostile selections (unicode digits, huge ids, NUL, duplicates,
another customer's ids) never 500 and change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from fakestripe import SUCCESS_VISA
from finance.models import Allocation, CardPayment, CardPaymentPurpose
from invoices.models import Invoice, InvoiceStatus
from tests.customers.factories import top_up
from tests.finance.factories import monthly_invoice, purchase_invoice

pytestmark = pytest.mark.django_db

LIST = reverse("portal:invoice-list")
CONFIRM = reverse("portal:invoices-pay")
CREDITS = reverse("portal:invoices-pay-credits")
CARD = reverse("portal:invoices-pay-card")
TODAY = timezone.localdate()


def two(cust, first="60", second="50"):
    later = purchase_invoice(cust, first, due_date=TODAY + dt.timedelta(days=20))
    sooner = purchase_invoice(cust, second, due_date=TODAY + dt.timedelta(days=5))
    return later, sooner


def nothing_changed_since(snapshot):
    return snapshot == (list(Invoice.objects.order_by("pk").values_list("pk", "status", "amount_paid")),
                        Allocation.objects.count(), CardPayment.objects.count(),
                        AuditEvent.objects.exclude(action__startswith="access.").count())


def snapshot():
    return (list(Invoice.objects.order_by("pk").values_list("pk", "status", "amount_paid")),
            Allocation.objects.count(), CardPayment.objects.count(),
            AuditEvent.objects.exclude(action__startswith="access.").count())


class TestTheList:
    def test_payable_rows_have_a_checkbox_and_the_list_a_pay_selected_button(self, portal_client, acme):
        later, sooner = two(acme)
        monthly = monthly_invoice(acme, "30")
        html = portal_client.get(LIST).content.decode()
        assert f'name="invoice" value="{later.pk}"' in html and f'name="invoice" value="{sooner.pk}"' in html
        assert f'name="invoice" value="{monthly.pk}"' not in html
        assert f'action="{CONFIRM}"' in html and "Pay selected" in html


class TestConfirmPage:
    def test_credits_that_cover_them_offer_one_click_which_pays_both(self, portal_client, acme):
        top_up(acme, "200")
        later, sooner = two(acme)
        html = portal_client.get(CONFIRM, {"invoice": [later.pk, sooner.pk]}).content.decode()
        assert "Your credits cover these invoices" in html and "Pay 110.00 SGD with credits" in html
        assert html.index(sooner.number) < html.index(later.number)  # oldest due first
        response = portal_client.post(CREDITS, {"invoice": [later.pk, sooner.pk]})
        assert response.status_code == 303 and response["Location"] == LIST
        assert set(Invoice.objects.filter(pk__in=[later.pk, sooner.pk]).values_list("status", flat=True)) == {
            InvoiceStatus.PAID}
        page = portal_client.get(LIST).content.decode()
        assert f"Invoices {sooner.number}, {later.number} are paid with your credits." in page

    def test_the_audit_trail_shows_the_invoices_paid_in_the_customers_words(self, portal_client, acme):
        top_up(acme, "200")
        later, sooner = two(acme)
        portal_client.post(CREDITS, {"invoice": [later.pk, sooner.pk]})
        html = portal_client.get(reverse("portal:audit")).content.decode()
        assert "Invoices paid with credits" in html
        assert f"{sooner.number}: 50.00 SGD; {later.number}: 60.00 SGD" in html

    def test_a_shortfall_shows_the_credits_and_the_card_charge_in_minor_units(self, portal_client, acme):
        top_up(acme, "30.004")
        later, sooner = two(acme)
        html = portal_client.get(CONFIRM, {"invoice": [later.pk, sooner.pk]}).content.decode()
        assert "30.004 SGD" in html  # the credits applied: a ledger amount keeps its decimals
        assert "Pay 80.00 SGD by card" in html  # 79.996 charged as 80.00: the card's minor unit, rounded up
        assert f'action="{CARD}"' in html

    def test_one_invoice_goes_to_its_own_pay_page(self, portal_client, acme):
        later, _ = two(acme)
        response = portal_client.get(CONFIRM, {"invoice": [later.pk, later.pk]})
        assert response.status_code == 302 and response["Location"] == reverse("portal:invoice-pay", args=[later.pk])

    def test_an_ineligible_invoice_is_named_and_nothing_can_be_pressed(self, portal_client, acme):
        top_up(acme, "500")
        later, _ = two(acme)
        monthly = monthly_invoice(acme, "30")
        html = portal_client.get(CONFIRM, {"invoice": [later.pk, monthly.pk]}).content.decode()
        assert f"Invoice {monthly.number} is a monthly invoice" in html
        assert f'action="{CREDITS}"' not in html and f'action="{CARD}"' not in html
        before = snapshot()
        response = portal_client.post(CREDITS, {"invoice": [later.pk, monthly.pk]})
        assert response.status_code == 200 and "monthly invoice" in response.content.decode()
        assert nothing_changed_since(before)

    def test_an_invoice_paid_in_another_tab_refuses_the_credits_click_and_shows_it_paid(self, portal_client, acme):
        from finance.services.cards import invoice_self_pay_with_credits
        from tests.stripe.helpers import CUSTOMER

        top_up(acme, "200")
        later, sooner = two(acme)
        invoice_self_pay_with_credits(invoice_id=sooner.pk, customer_id=acme.pk, actor=CUSTOMER)
        before = snapshot()
        response = portal_client.post(CREDITS, {"invoice": [later.pk, sooner.pk]})
        html = response.content.decode()
        assert response.status_code == 200 and f"Invoice {sooner.number} is already paid." in html
        assert f"Invoice {sooner.number} is paid: there is nothing to pay on it" in html
        assert nothing_changed_since(before)


class TestByCard:
    def test_one_checkout_for_the_shortfall_then_the_result_page_names_each_invoice(self, portal_client, acme,
                                                                                     fake_stripe):
        top_up(acme, "30")
        later, sooner = two(acme)
        response = portal_client.post(CARD, {"invoice": [later.pk, sooner.pk]})
        payment = CardPayment.objects.get()
        assert response.status_code == 303 and response["Location"] == payment.checkout_url
        assert payment.purpose == CardPaymentPurpose.INVOICES and payment.amount == Decimal("80")
        fake_stripe.pay_checkout_session(payment.checkout_session_id, SUCCESS_VISA)
        html = portal_client.get(reverse("portal:card-success"),
                                 {"session_id": payment.checkout_session_id}).content.decode()
        assert f'data-invoice="{sooner.number}" data-outcome="paid"' in html
        assert f'data-invoice="{later.number}" data-outcome="paid"' in html
        assert "data-kept-as-credit" not in html
        receipt = portal_client.get(reverse("portal:payment-receipt", args=[payment.pk]))
        assert receipt.status_code == 200

    def test_an_invoice_paid_meanwhile_is_named_and_its_share_stays_as_credit(self, portal_client, acme,
                                                                              fake_stripe):
        from finance.services.cards import invoice_self_pay_with_credits
        from tests.stripe.helpers import CUSTOMER

        top_up(acme, "30")
        later, sooner = two(acme)
        portal_client.post(CARD, {"invoice": [later.pk, sooner.pk]})
        payment = CardPayment.objects.get()
        top_up(acme, "20")
        invoice_self_pay_with_credits(invoice_id=sooner.pk, customer_id=acme.pk, actor=CUSTOMER)
        fake_stripe.pay_checkout_session(payment.checkout_session_id, SUCCESS_VISA)
        html = portal_client.get(reverse("portal:card-success"),
                                 {"session_id": payment.checkout_session_id}).content.decode()
        assert f'data-invoice="{sooner.number}" data-outcome="kept_as_credit"' in html
        assert f"Invoice {sooner.number} was already paid; its share stays as credit on your account." in html
        assert "20.00 SGD of this payment stays as credit on your account." in html


class TestHostileInput:
    @pytest.mark.parametrize("bad", ["²", "١٢", "0", "-1", "+1", " 1", "1e3", "9" * 19, "9" * 400, "", "0x1", "1.0"])
    @pytest.mark.parametrize("url", [CONFIRM, CREDITS, CARD])
    def test_malformed_ids_are_refused_with_a_message_and_change_nothing(self, portal_client, acme, fake_stripe,
                                                                         url, bad):
        top_up(acme, "500")
        later, sooner = two(acme)
        before = snapshot()
        data = {"invoice": [later.pk, bad, sooner.pk]}
        response = portal_client.get(url, data) if url == CONFIRM else portal_client.post(url, data)
        assert response.status_code == 303 and response["Location"] == LIST
        page = portal_client.get(LIST).content.decode()
        assert "That selection of invoices is not valid." in page
        assert nothing_changed_since(before) and fake_stripe.requests == []

    @pytest.mark.parametrize("url", [CONFIRM, CREDITS, CARD])
    def test_a_nul_in_an_id_is_a_400_and_changes_nothing(self, portal_client, acme, fake_stripe, url):
        top_up(acme, "500")
        later, sooner = two(acme)
        before = snapshot()
        data = {"invoice": [later.pk, "1\x00", sooner.pk]}
        response = portal_client.get(url, data) if url == CONFIRM else portal_client.post(url, data)
        assert response.status_code == 400  # the security middleware's page, before any view runs
        assert nothing_changed_since(before) and fake_stripe.requests == []

    @pytest.mark.parametrize("url", [CONFIRM, CREDITS, CARD])
    def test_huge_unknown_and_foreign_ids_are_404_and_change_nothing(self, portal_client, acme, globex, url,
                                                                     fake_stripe):
        top_up(acme, "500")
        top_up(globex, "500")
        later, _ = two(acme)
        foreign = purchase_invoice(globex, "10")
        before = snapshot()
        for other in (foreign.pk, 9 * 10**17, 2**63 - 1):
            data = {"invoice": [later.pk, other]}
            response = portal_client.get(url, data) if url == CONFIRM else portal_client.post(url, data)
            assert response.status_code == 404
        assert nothing_changed_since(before) and fake_stripe.requests == []

    @pytest.mark.parametrize("url", [CONFIRM, CREDITS, CARD])
    def test_no_selection_and_too_many_are_refused_with_a_message(self, portal_client, acme, url):
        before = snapshot()
        for data, message in (({}, "Select"), ({"invoice": [str(i) for i in range(1, 52)]}, "at most 50")):
            response = portal_client.get(url, data) if url == CONFIRM else portal_client.post(url, data)
            assert response.status_code == 303 and response["Location"] == LIST
            assert message in portal_client.get(LIST).content.decode()
        assert nothing_changed_since(before)

    def test_the_pages_need_a_signed_in_customer_and_the_right_method(self, portal_client, acme):
        from django.test import Client

        later, sooner = two(acme)
        assert Client().get(CONFIRM, {"invoice": [later.pk, sooner.pk]}).status_code == 302  # to sign in
        assert portal_client.get(CREDITS).status_code == 405
        assert portal_client.get(CARD).status_code == 405
        assert portal_client.post(CONFIRM).status_code == 405

    def test_the_invoices_tab_hidden_hides_the_pages(self, portal_client, acme):
        later, sooner = two(acme)
        acme.show_invoices_tab = False
        acme.save(update_fields=["show_invoices_tab"])
        assert portal_client.get(CONFIRM, {"invoice": [later.pk, sooner.pk]}).status_code == 404
        assert portal_client.post(CREDITS, {"invoice": [later.pk, sooner.pk]}).status_code == 404
