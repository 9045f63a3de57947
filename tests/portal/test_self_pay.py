"""Invoice self-pay in the portal: credits first; when they fall short, a card top-up of the shortfall (or
more) that then pays the invoice; a declined card pays nothing and holds nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import Transaction, TransactionKind
from fakestripe import DECLINE_GENERIC, SUCCESS_VISA
from finance.models import Allocation, CardPayment, CardPaymentInvoiceOutcome, CardPaymentStatus
from invoices.models import InvoiceStatus
from tests.customers.factories import top_up
from tests.finance.factories import monthly_invoice, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db


def pay_url(invoice):
    return reverse("portal:invoice-pay", args=[invoice.pk])


class TestCreditsCover:
    def test_the_page_offers_one_click_and_it_pays_with_credits(self, portal_client, acme):
        top_up(acme, "100")
        invoice = purchase_invoice(acme, "60")
        html = portal_client.get(pay_url(invoice)).content.decode()
        assert "Your credits cover this invoice" in html and "Pay 60.00 SGD with credits" in html
        response = portal_client.post(pay_url(invoice))
        assert response.status_code == 302 and response["Location"] == reverse("portal:invoice-list")
        invoice.refresh_from_db()
        acme.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == Decimal("60")
        assert Allocation.objects.get(invoice=invoice).source == "credit"
        assert acme.usable_credits == Decimal("40")
        assert not CardPayment.objects.exists()

    def test_a_partially_paid_invoice_pays_what_it_still_owes(self, portal_client, acme):
        from finance.services.allocation import invoice_pay_with_credits
        from tests.finance.factories import SYSTEM

        top_up(acme, "100")
        invoice = purchase_invoice(acme, "60")
        invoice_pay_with_credits(invoice=invoice, amount=Decimal("20"), actor=SYSTEM)
        portal_client.post(pay_url(invoice))
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == Decimal("60")

    @pytest.mark.parametrize("make", [monthly_invoice, top_up_invoice])
    def test_monthly_and_top_up_invoices_cannot_be_paid_here(self, portal_client, acme, make):
        top_up(acme, "500")
        invoice = make(acme, "60")
        response = portal_client.post(pay_url(invoice))
        assert response.status_code == 302
        invoice.refresh_from_db()
        assert invoice.amount_paid == 0 and not Allocation.objects.exists()

    def test_a_paid_invoice_is_not_paid_twice(self, portal_client, acme):
        top_up(acme, "100")
        invoice = purchase_invoice(acme, "60")
        portal_client.post(pay_url(invoice))
        portal_client.post(pay_url(invoice))
        assert Allocation.objects.count() == 1
        acme.refresh_from_db()
        assert acme.usable_credits == Decimal("40")


class TestCreditsFallShort:
    def test_the_page_says_by_how_much_and_offers_a_card_top_up_of_the_shortfall(self, portal_client, acme):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60.004")
        html = portal_client.get(pay_url(invoice)).content.decode()
        assert "you are <strong>35.004 SGD</strong> short" in html
        assert 'value="35.01"' in html  # the card field starts at what a card can charge (2 decimals for SGD)
        assert "Your card is charged <strong>35.01 SGD</strong> for the shortfall (cards are charged in whole" in html
        assert "At least the shortfall, 35.004 SGD." in html and "35.004000" not in html  # issue 19: as money

    def test_posting_pay_with_too_little_credit_changes_nothing_and_says_why(self, portal_client, acme):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60")
        response = portal_client.post(pay_url(invoice))
        assert response.status_code == 200 and "short by 35" in response.content.decode()
        invoice.refresh_from_db()
        assert invoice.amount_paid == 0 and not Allocation.objects.exists()

    def test_less_than_the_shortfall_is_refused(self, portal_client, acme, fake_stripe):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60")
        response = portal_client.post(reverse("portal:invoice-pay-card", args=[invoice.pk]), {"amount": "30"})
        assert response.status_code == 200 and "at least the shortfall of 35" in response.content.decode()
        assert not CardPayment.objects.exists() and fake_stripe.requests == []

    def test_a_card_top_up_then_pays_the_invoice_with_the_credits(self, portal_client, acme, fake_stripe):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60")
        response = portal_client.post(reverse("portal:invoice-pay-card", args=[invoice.pk]), {"amount": "40"})
        assert response.status_code == 303
        payment = CardPayment.objects.get()
        assert response["Location"] == payment.checkout_url and payment.invoice_id == invoice.pk
        result = fake_stripe.pay_checkout_session(payment.checkout_session_id, SUCCESS_VISA)
        assert result.redirect_url.startswith("http://testserver/portal/card/success/?session_id=cs_")
        html = portal_client.get(result.redirect_url.removeprefix("http://testserver")).content.decode()
        assert "Payment received" in html and f"Invoice <strong>{invoice.number}</strong> is paid" in html
        invoice.refresh_from_db()
        acme.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert acme.usable_credits == Decimal("5")  # 25 + 40 - 60
        payment.refresh_from_db()
        assert payment.invoice_outcome == CardPaymentInvoiceOutcome.PAID and not payment.kept_as_credit
        assert Transaction.objects.filter(kind=TransactionKind.TOP_UP, source_id=payment.pk).count() == 1

    def test_a_declined_card_pays_nothing_and_holds_nothing(self, portal_client, acme, fake_stripe):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60")
        portal_client.post(reverse("portal:invoice-pay-card", args=[invoice.pk]), {"amount": "35"})
        payment = CardPayment.objects.get()
        result = fake_stripe.pay_checkout_session(payment.checkout_session_id, DECLINE_GENERIC)
        assert not result.ok and result.error == "Your card was declined."
        from tests.stripe_fixtures import post_event

        (failed,) = fake_stripe.events_of_type("payment_intent.payment_failed")
        assert post_event(portal_client, failed).status_code == 200
        payment.refresh_from_db()
        invoice.refresh_from_db()
        acme.refresh_from_db()
        assert payment.status == CardPaymentStatus.FAILED
        assert invoice.status == InvoiceStatus.SENT and invoice.amount_paid == 0
        assert not Allocation.objects.exists()
        assert acme.current_balance == Decimal("-35") and acme.amount_reserved == 0  # 25 - 60, as before
        cancel = fake_stripe.get(payment.checkout_session_id)["cancel_url"]
        assert cancel == f"http://testserver{reverse('portal:card-cancelled')}?payment={payment.pk}"
        html = portal_client.get(cancel).content.decode()
        assert f"no payment was taken yet for invoice {invoice.number}" in html
        assert "The last attempt failed: Your card was declined." in html

    def test_an_invoice_paid_meanwhile_leaves_the_card_money_as_credit(self, portal_client, acme, fake_stripe):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60")
        portal_client.post(reverse("portal:invoice-pay-card", args=[invoice.pk]), {"amount": "35"})
        payment = CardPayment.objects.get()
        top_up(acme, "100")
        portal_client.post(pay_url(invoice))  # paid with credits from elsewhere before the card completes
        fake_stripe.pay_checkout_session(payment.checkout_session_id, SUCCESS_VISA)
        html = portal_client.get(f"{reverse('portal:card-success')}?session_id={payment.checkout_session_id}")
        assert (f"Invoice {invoice.number} was already paid; the 35.00 SGD stays as credit on your account."
                in html.content.decode())
        payment.refresh_from_db()
        acme.refresh_from_db()
        assert payment.status == CardPaymentStatus.SUCCEEDED and payment.kept_as_credit
        assert CardPayment.objects.filter(invoice_outcome=CardPaymentInvoiceOutcome.KEPT_AS_CREDIT).get() == payment
        assert payment.invoice_payment_error == f"Invoice {invoice.number} was already paid."
        assert acme.usable_credits == Decimal("100")  # 25 + 100 - 60 + 35
