"""The portal's Card and automatic top-ups page and its Payments page: what they show, the changes they
make through the services (amounts, off/on, remove the card), bad input answered on the page with nothing
changed, and only the customer's own, customer-facing rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from finance.models import PaymentSettings, TopUpMethod
from finance.services.allocation import payment_allocate
from finance.services.auto_top_up import payment_settings_update
from finance.services.cards import card_payment_fulfil
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, payment, purchase_invoice
from tests.stripe.helpers import CUSTOMER, pay, save_card, start

pytestmark = pytest.mark.django_db
D = Decimal
CARD = reverse("portal:card-settings")


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def with_card(acme, fake_stripe):
    """Acme with a saved Visa, auto top-up by card on: 50.00 when usable credits fall to 10.00."""
    return save_card(fake_stripe, acme)


class TestCardPage:
    def test_shows_the_card_its_expiry_and_the_auto_top_up_settings(self, portal_client, with_card):
        page = text(portal_client.get(CARD))
        assert "Visa ending 4242" in page
        assert f"12/{with_card.card_exp_year}" in page
        assert 'data-auto-top-up="on"' in page
        assert "50.00 SGD" in page and "10.00 SGD" in page
        assert "Turn automatic top-ups off" in page and "Remove card" in page

    def test_without_a_card_offers_the_top_up_page(self, portal_client, acme):
        page = text(portal_client.get(CARD))
        assert "No card is saved" in page and reverse("portal:top-up") in page
        assert "Save amounts" not in page and "Remove card" not in page

    def test_a_method_staff_chose_is_shown_read_only_without_a_card(self, portal_client, acme):
        payment_settings_update(customer_id=acme.pk, method=TopUpMethod.CHEQUE_TT, trigger_amount=D("100"),
                                limit_threshold=D("40"), auto_top_up_enabled=True, actor=SYSTEM)
        page = text(portal_client.get(CARD))
        assert "arranged with our finance team" in page and "100.00 SGD" in page
        assert "Turn automatic top-ups off" not in page

    def test_is_in_the_portal_nav(self, portal_client, acme):
        page = text(portal_client.get(reverse("portal:home")))
        assert f'href="{CARD}"' in page and f'href="{reverse("portal:payments")}"' in page


class TestChangeAmounts:
    def test_saves_them_and_confirms(self, portal_client, with_card):
        ledger_post(with_card, "top_up", "100")
        response = portal_client.post(reverse("portal:card-settings-amounts"),
                                      {"trigger_amount": "30", "limit_threshold": "20"}, follow=True)
        ps = PaymentSettings.objects.get(customer=with_card)
        assert (ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (D("30"), D("20"), True)
        assert "we top up 30.00 SGD once a day at most when your usable credits fall to 20.00 SGD" in text(response)

    def test_below_the_threshold_already_the_confirmation_says_what_will_happen(self, portal_client, with_card):
        ledger_post(with_card, "call", "-36.12")  # 20.00 from the top-up that saved the card: -16.12 usable
        response = portal_client.post(reverse("portal:card-settings-amounts"),
                                      {"trigger_amount": "30", "limit_threshold": "20"}, follow=True)
        assert ("your usable credits are -16.12 SGD: the next daily top-up of 30.00 SGD brings them to 13.88 SGD, "
                "still under 20.00 SGD, so another follows the day after.") in text(response).replace("Your", "your")
        assert "data-projection" in text(response)  # and the page itself still says so

    @pytest.mark.parametrize(("trigger", "threshold", "message"), [
        ("", "20", "This field is required."),
        ("abc", "20", "Each automatic top-up adds"),
        ("30", "-5", "When usable credits fall to"),
        ("1", "20", "at least"),  # under the minimum top-up: the service says so
    ])
    def test_bad_amounts_are_refused_on_the_page_and_change_nothing(self, portal_client, with_card, trigger,
                                                                    threshold, message):
        events = AuditEvent.objects.count()
        response = portal_client.post(reverse("portal:card-settings-amounts"),
                                      {"trigger_amount": trigger, "limit_threshold": threshold})
        assert response.status_code == 200 and message in text(response)
        ps = PaymentSettings.objects.get(customer=with_card)
        assert (ps.trigger_amount, ps.limit_threshold) == (D("50"), D("10"))
        assert AuditEvent.objects.count() == events

    def test_without_a_card_is_refused(self, portal_client, acme):
        response = portal_client.post(reverse("portal:card-settings-amounts"),
                                      {"trigger_amount": "30", "limit_threshold": "20"})
        assert response.status_code == 200 and "no saved card" in text(response)
        assert not PaymentSettings.objects.filter(customer=acme).exists()


class TestTurnOffAndOn:
    def test_turns_off_then_on(self, portal_client, with_card):
        url = reverse("portal:card-settings-switch")
        response = portal_client.post(url, {"auto_top_up": "off"}, follow=True)
        assert "your card will not be charged automatically" in text(response)
        assert not PaymentSettings.objects.get(customer=with_card).auto_top_up_enabled
        response = portal_client.post(url, {"auto_top_up": "on"}, follow=True)
        assert "Automatic top-ups by card are on" in text(response)
        assert PaymentSettings.objects.get(customer=with_card).auto_top_up_enabled

    def test_anything_else_is_refused(self, portal_client, with_card):
        response = portal_client.post(reverse("portal:card-settings-switch"), {"auto_top_up": "maybe"})
        assert response.status_code == 200 and "Choose to turn" in text(response)
        # A NUL byte never reaches the view (common.middleware.RefuseNulBytesMiddleware: a 400 page saying so).
        response = portal_client.post(reverse("portal:card-settings-switch"), {"auto_top_up": "maybe\x00"})
        assert response.status_code == 400 and "NUL character" in text(response)
        assert PaymentSettings.objects.get(customer=with_card).auto_top_up_enabled

    def test_a_get_changes_nothing(self, portal_client, with_card):
        assert portal_client.get(reverse("portal:card-settings-switch")).status_code == 405
        assert portal_client.get(reverse("portal:card-remove")).status_code == 405


class TestRemoveCard:
    def test_removes_it_and_says_auto_top_up_is_off(self, portal_client, with_card, fake_stripe,
                                                    django_capture_on_commit_callbacks):
        method_id = with_card.stripe_payment_method_id
        with django_capture_on_commit_callbacks(execute=True):
            response = portal_client.post(reverse("portal:card-remove"), follow=True)
        page = text(response)
        assert "is removed from your account" in page and "Automatic top-ups by card are now off" in page
        assert "No card is saved" in page
        with_card.refresh_from_db()
        assert with_card.stripe_payment_method_id == "" and with_card.card_last4 == ""
        assert not PaymentSettings.objects.get(customer=with_card).auto_top_up_enabled
        assert fake_stripe.get(method_id)["customer"] is None  # detached at Stripe after commit

    def test_twice_says_there_is_none(self, portal_client, with_card):
        portal_client.post(reverse("portal:card-remove"))
        response = portal_client.post(reverse("portal:card-remove"))
        assert response.status_code == 200 and "There is no saved card" in text(response)

    def test_another_customers_card_is_untouched(self, globex_client, with_card):
        globex_client.post(reverse("portal:card-remove"))
        with_card.refresh_from_db()
        assert with_card.stripe_payment_method_id


PAYMENTS = reverse("portal:payments")


@pytest.fixture
def history(acme, globex, fake_stripe):
    bank = payment(acme, "300", reference="ACME-BANK-7", remark="INTERNAL: chased by staff-alice")
    invoice = purchase_invoice(acme, "120")
    payment_allocate(payment=bank, lines=[(invoice.pk, D("120"))], actor=SYSTEM)
    card = start(acme, "25")
    pay(fake_stripe, card)
    card = card_payment_fulfil(checkout_session_id=card.checkout_session_id, actor=CUSTOMER)
    other = start(globex, "77")
    pay(fake_stripe, other)
    card_payment_fulfil(checkout_session_id=other.checkout_session_id, actor=CUSTOMER)
    return invoice, card


class TestPaymentsPage:
    def test_lists_the_customers_payments_with_a_receipt_for_the_card_payment(self, portal_client, history):
        invoice, card = history
        page = text(portal_client.get(PAYMENTS))
        assert invoice.number in page and "ACME-BANK-7" in page and "Visa ending 4242" in page
        assert reverse("portal:payment-receipt", args=[card.pk]) in page
        assert "77.00" not in page  # Globex's
        for secret in ("INTERNAL", "staff-alice", card.payment_intent_id, card.checkout_session_id, "SYSTEM", "tests"):
            assert secret not in page

    def test_filters_and_answers_htmx_with_the_table(self, portal_client, history):
        response = portal_client.get(PAYMENTS, {"kind": "card"}, HTTP_HX_REQUEST="true")
        page = text(response)
        assert page.lstrip().startswith('<div id="payment-table"') and "ACME-BANK-7" not in page
        assert "Visa ending 4242" in page

    def test_a_bad_kind_is_ignored_and_a_reversed_range_shows_its_error_and_nothing(self, portal_client, history):
        # Issue 23, defect 5: a reversed range listed everything (its end ignored); it lists nothing now.
        assert "ACME-BANK-7" in text(portal_client.get(PAYMENTS, {"kind": "nope"}))
        page = text(portal_client.get(PAYMENTS, {"date_from": "2026-05-01", "date_to": "2026-04-01",
                                                 "kind": "nope"}))
        assert "The end date is before the start date." in page and "ACME-BANK-7" not in page

    def test_csv_has_the_same_customer_facing_columns(self, portal_client, history):
        _, card = history
        response = portal_client.get(PAYMENTS, {"format": "csv"})
        body = b"".join(response.streaming_content).decode()
        assert body.splitlines()[0] == "Date,Type,Status,Invoice,Reference,Card,Amount,Currency,Receipt"
        assert f"RCPT-{card.pk:06d}" in body and "ACME-BANK-7" in body
        assert "INTERNAL" not in body and card.payment_intent_id not in body and "77.000000" not in body

    def test_the_receipt_downloads_as_a_pdf(self, portal_client, history):
        _, card = history
        response = portal_client.get(reverse("portal:payment-receipt", args=[card.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="RCPT-{card.pk:06d}.pdf"'
        assert response.content.startswith(b"%PDF")

    def test_the_success_page_links_to_the_receipt(self, portal_client, history):
        _, card = history
        page = text(portal_client.get(reverse("portal:card-success"), {"session_id": card.checkout_session_id}))
        assert reverse("portal:payment-receipt", args=[card.pk]) in page


class TestQueries:
    def test_the_payments_page_reads_a_constant_number_of_queries(self, portal_client, acme, fake_stripe,
                                                                   django_assert_max_num_queries):
        bank = payment(acme, "1000", reference="MANY")
        for _ in range(6):
            invoice = purchase_invoice(acme, "10")
            payment_allocate(payment=bank, lines=[(invoice.pk, D("10"))], actor=SYSTEM)
            start(acme, "20")
        with django_assert_max_num_queries(8):
            assert portal_client.get(PAYMENTS).status_code == 200
