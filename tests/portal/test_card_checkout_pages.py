"""The portal's card pages after issue 19: the cancel page changes nothing on GET and cancels with a POST
(expiring the session at Stripe), the losing side of a pay race gets the invoice as it is now, the pay
page shows the invoice's lines and card charges in the currency's minor unit, Stripe's errors are told in
our words, and two tabs paying one invoice share one Checkout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from finance.models import Allocation, CardPayment, CardPaymentStatus
from finance.services.cards import InvoiceAlreadyPaid, invoice_self_pay_with_credits
from invoices.models import InvoiceStatus
from invoices.services import PurchaseLine, invoice_create_purchase, invoice_mark_sent
from tests.customers.factories import top_up
from tests.finance.factories import SYSTEM, purchase_invoice
from tests.stripe.helpers import CUSTOMER, pay
from tests.threads import run_threads

pytestmark = pytest.mark.django_db


def pay_url(invoice):
    return reverse("portal:invoice-pay", args=[invoice.pk])


def card_url(invoice):
    return reverse("portal:invoice-pay-card", args=[invoice.pk])


def cancel_url(payment):
    return f"{reverse('portal:card-cancelled')}?payment={payment.pk}"


def card_payment_for(portal_client, invoice, amount="35"):
    response = portal_client.post(card_url(invoice), {"amount": amount})
    assert response.status_code == 303
    return CardPayment.objects.get(checkout_url=response["Location"])


class TestCancelPage:
    def test_a_get_shows_the_payment_and_a_cancel_button_and_changes_nothing(self, portal_client, acme, fake_stripe):
        invoice = purchase_invoice(acme, "60")
        payment = card_payment_for(portal_client, invoice, "60")
        before = len(fake_stripe.requests)
        html = portal_client.get(cancel_url(payment)).content.decode()
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING
        assert fake_stripe.get(payment.checkout_session_id)["status"] == "open"
        assert len(fake_stripe.requests) == before
        assert not AuditEvent.objects.filter(action="finance.card_payment.cancel").exists()
        assert "Cancel this payment" in html and f'name="payment" value="{payment.pk}"' in html
        assert f'href="{payment.checkout_url}"' in html  # or go back and pay

    def test_the_button_posts_and_cancels_after_expiring_the_session_at_stripe(self, portal_client, acme,
                                                                               fake_stripe):
        invoice = purchase_invoice(acme, "60")
        payment = card_payment_for(portal_client, invoice, "60")
        response = portal_client.post(reverse("portal:card-cancelled"), {"payment": payment.pk})
        assert response.status_code == 303 and response["Location"] == cancel_url(payment)
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.CANCELLED
        assert fake_stripe.get(payment.checkout_session_id)["status"] == "expired"
        html = portal_client.get(response["Location"]).content.decode()
        assert "Payment cancelled" in html and f"invoice {invoice.number} is still open" in html
        assert "Cancel this payment" not in html
        assert not pay(fake_stripe, payment).ok  # the Checkout tab left open can no longer take money

    def test_another_customers_payment_or_a_bad_id_is_a_404(self, portal_client, globex_client, acme, fake_stripe):
        invoice = purchase_invoice(acme, "60")
        payment = card_payment_for(portal_client, invoice, "60")
        assert globex_client.get(cancel_url(payment)).status_code == 404
        assert globex_client.post(reverse("portal:card-cancelled"), {"payment": payment.pk}).status_code == 404
        for bad in ["²", "1" * 30, "-1", "abc", ""]:
            assert portal_client.get(f"{reverse('portal:card-cancelled')}?payment={bad}").status_code == 404
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING

    def test_stripe_failing_keeps_the_payment_and_says_so_in_our_words(self, portal_client, acme, fake_stripe):
        invoice = purchase_invoice(acme, "60")
        payment = card_payment_for(portal_client, invoice, "60")
        fake_stripe.fail_next("POST", r"/v1/checkout/sessions/[^/]+/expire", message="raw internal 42", times=3)
        html = portal_client.post(reverse("portal:card-cancelled"), {"payment": payment.pk}).content.decode()
        assert "could not be cancelled just now. Please try again later." in html and "raw internal 42" not in html
        payment.refresh_from_db()
        assert payment.status == CardPaymentStatus.PENDING

    def test_cancelled_and_expired_payments_leave_the_card_payment_history(self, portal_client, acme, fake_stripe):
        invoice = purchase_invoice(acme, "60")
        payment = card_payment_for(portal_client, invoice, "60")
        html = portal_client.get(reverse("portal:top-up")).content.decode()
        assert "Recent card payments" in html and "Awaiting payment" in html
        portal_client.post(reverse("portal:card-cancelled"), {"payment": payment.pk})
        html = portal_client.get(reverse("portal:top-up")).content.decode()
        assert "Recent card payments" not in html and "Cancelled" not in html


class TestPayRaceLoser:
    def test_the_losing_credits_post_gets_the_paid_invoice_with_nothing_to_press(self, portal_client, acme):
        top_up(acme, "100")
        invoice = purchase_invoice(acme, "60")
        assert "with credits" in portal_client.get(pay_url(invoice)).content.decode()  # both tabs show this
        invoice_self_pay_with_credits(invoice_id=invoice.pk, customer_id=acme.pk, actor=CUSTOMER)  # tab 1 wins
        response = portal_client.post(pay_url(invoice))  # tab 2 presses Pay on its stale page
        assert response.status_code == 303 and response["Location"] == pay_url(invoice)
        html = portal_client.get(response["Location"]).content.decode()
        assert f"Invoice {invoice.number} is already paid." in html
        assert 'data-invoice-status="paid"' in html and "nothing left to pay" in html
        assert "<form" not in html.split('id="pay-panel"')[1].split("</section>")[0]
        assert Allocation.objects.count() == 1

    def test_the_losing_card_post_gets_the_paid_invoice_and_starts_no_checkout(self, portal_client, acme,
                                                                               fake_stripe):
        top_up(acme, "25")
        invoice = purchase_invoice(acme, "60")
        top_up(acme, "100")
        invoice_self_pay_with_credits(invoice_id=invoice.pk, customer_id=acme.pk, actor=CUSTOMER)
        response = portal_client.post(card_url(invoice), {"amount": "35"})
        assert response.status_code == 303 and response["Location"] == pay_url(invoice)
        html = portal_client.get(response["Location"]).content.decode()
        assert 'data-invoice-status="paid"' in html and "Top up by card and pay" not in html
        assert not CardPayment.objects.exists() and fake_stripe.requests == []


@pytest.mark.django_db(transaction=True)
def test_two_tabs_paying_one_invoice_with_credits_at_once_pay_it_once(acme):
    top_up(acme, "100")
    invoice = purchase_invoice(acme, "60")
    lost: list[BaseException] = []

    def press_pay(n: int) -> None:
        try:
            invoice_self_pay_with_credits(invoice_id=invoice.pk, customer_id=acme.pk, actor=CUSTOMER)
        except InvoiceAlreadyPaid as exc:
            lost.append(exc)

    assert run_threads(4, press_pay) == []
    assert len(lost) == 3 and all(str(e) == f"Invoice {invoice.number} is already paid." for e in lost)
    invoice.refresh_from_db()
    acme.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and Allocation.objects.filter(invoice=invoice).count() == 1
    assert acme.usable_credits == Decimal("40")


class TestTwoTabsByCard:
    def test_the_second_tab_is_sent_to_the_same_open_checkout(self, portal_client, acme, fake_stripe):
        invoice = purchase_invoice(acme, "60")
        first = portal_client.post(card_url(invoice), {"amount": "60"})
        second = portal_client.post(card_url(invoice), {"amount": "60"})
        assert first.status_code == second.status_code == 303 and first["Location"] == second["Location"]
        assert CardPayment.objects.count() == 1


class TestPayPage:
    def test_shows_the_lines_and_totals_and_the_card_charge_in_whole_cents(self, portal_client, acme):
        invoice = invoice_create_purchase(customer_id=acme.pk, actor=SYSTEM, lines=[
            PurchaseLine(description="Cloud PBX seats", quantity="3", unit_price="10.001", tax_rate="9"),
            PurchaseLine(description="Number porting <b>fee</b>", quantity="1", unit_price="5", tax_rate="0"),
        ])
        invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
        html = portal_client.get(pay_url(invoice)).content.decode()
        rows = html.split('id="invoice-lines"')[1].split("</table>")[0]
        assert "Cloud PBX seats" in rows and "Number porting &lt;b&gt;fee&lt;/b&gt;" in rows
        assert ('<td class="num" data-label="Quantity">3</td><td class="num" data-label="Unit price">10.001</td>'
                in rows.replace("\n        ", ""))
        assert "2.70027 (9%)" in rows and "30.003" in rows  # tax and amount keep up to 6 decimals
        assert 'data-total="subtotal">35.003 SGD' in rows and 'data-total="tax">2.70027 SGD' in rows
        assert 'data-total="total"><strong>37.70327 SGD' in rows
        assert "Your card is charged <strong>37.71 SGD</strong>" in html  # the card: whole cents, rounded up

    def test_a_yen_card_charge_has_no_decimals(self, portal_client, acme):
        acme.currency = "JPY"
        acme.save(update_fields=["currency"])
        invoice = purchase_invoice(acme, "1234.5")
        html = portal_client.get(pay_url(invoice)).content.decode()
        assert "Your card is charged <strong>1,235 JPY</strong>" in html


class TestProcessorErrors:
    def test_the_top_up_page_says_it_in_our_words(self, portal_client, acme, fake_stripe):
        raw = "No such price: 'price_1Abc' (request req_internal)"
        fake_stripe.fail_next("POST", "/v1/checkout/sessions", status=400, type="invalid_request_error", message=raw)
        html = portal_client.post(reverse("portal:top-up"), {"amount": "30"}).content.decode()
        assert "The card payment could not be started. Please try again later." in html
        assert "price_1Abc" not in html and "req_internal" not in html
        assert AuditEvent.objects.get(action="finance.card_payment.start_failed").after["processor_error"] == raw


def test_an_expired_payment_is_shown_as_expired(portal_client, acme, fake_stripe):
    from audit.actors import Actor
    from finance.services.cards import card_payments_expire

    invoice = purchase_invoice(acme, "60")
    payment = card_payment_for(portal_client, invoice, "60")
    card_payments_expire(actor=Actor.system("card-payment-expiry"), now=payment.expires_at + dt.timedelta(seconds=1))
    html = portal_client.get(cancel_url(payment)).content.decode()
    assert "Payment expired" in html and "Cancel this payment" not in html
