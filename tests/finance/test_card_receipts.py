"""Card receipts and the customer's payments: the receipt email queued on fulfilment and sent after
commit (recorded as a payment_receipt notification), its PDF, the "stays as credit" note for a card
payment whose invoice was paid already, and the payments read's allow-list of customer-facing fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from customers.models import Notification, NotificationKind
from finance.cards.receipts import receipt_pdf_html, render_receipt_pdf
from finance.cards.selectors import PAYMENT_COLUMNS, PaymentKind, customer_payments, stays_as_credit_note
from finance.models import CardPaymentStatus
from finance.services.allocation import payment_allocate
from finance.services.cards import card_charge_off_session, card_payment_fulfil, invoice_self_pay_with_credits
from finance.services.receipts import card_receipt_email_deliver
from finance.services.top_ups import payment_top_up
from tests.customers.factories import top_up
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice
from tests.stripe.helpers import CUSTOMER, STRIPE, pay, save_card, start

pytestmark = pytest.mark.django_db
D = Decimal


def paid(fake, cust, amount="25", **kwargs):
    card_payment = start(cust, amount, **kwargs)
    pay(fake, card_payment)
    return card_payment


class TestReceiptEmail:
    def test_fulfilment_emails_the_receipt_with_its_pdf_after_commit_and_records_it(
            self, fake_stripe, django_capture_on_commit_callbacks):
        cust = customer(billing_email="billing@acme.example", name="Acme Telecom")
        card_payment = paid(fake_stripe, cust, "25.001")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        note = Notification.objects.get(customer=cust, kind=NotificationKind.PAYMENT_RECEIPT)
        assert note.status == "queued" and mail.outbox == []  # nothing is sent inside the transaction
        for callback in callbacks:
            callback()
        note.refresh_from_db()
        assert note.status == "sent" and note.recipient == "billing@acme.example"
        (message,) = mail.outbox
        assert message.to == ["billing@acme.example"]
        assert message.subject == f"Receipt RCPT-{card_payment.pk:06d}: 25.01 SGD received, thank you"
        assert "Dear Acme Telecom," in message.body and "card payment of 25.01 SGD by Visa ending 4242" in message.body
        assert "It was credited to your account" in message.body and "&" not in message.body
        ((name, content, mimetype),) = message.attachments
        assert name == f"RCPT-{card_payment.pk:06d}.pdf" and mimetype == "application/pdf"
        assert content.startswith(b"%PDF")
        assert AuditEvent.objects.filter(action="finance.card_payment.receipt_email", object_id=str(card_payment.pk)
                                         ).count() == 1

    def test_a_failed_receipt_email_is_recorded_on_the_notification(
            self, fake_stripe, settings, django_capture_on_commit_callbacks):
        """The same record as a failed invoice email (one helper: customers' notification_email_send): status
        failed and the mail server's error kept on the notification, and in the audit event."""
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
        cust = customer(billing_email="billing@acme.example", name="Acme Telecom")
        card_payment = paid(fake_stripe, cust, "25")
        with django_capture_on_commit_callbacks(execute=True):
            card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        note = Notification.objects.get(customer=cust, kind=NotificationKind.PAYMENT_RECEIPT)
        assert note.status == "failed" and note.body.startswith("ConnectionRefusedError")
        event = AuditEvent.objects.get(action="finance.card_payment.receipt_email", object_id=str(card_payment.pk))
        assert event.after["status"] == "failed" and event.reason == note.body

    def test_fulfilling_again_queues_no_second_receipt(self, fake_stripe, django_capture_on_commit_callbacks):
        cust = customer()
        card_payment = paid(fake_stripe, cust)
        with django_capture_on_commit_callbacks(execute=True):
            card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
            card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=STRIPE)
        assert Notification.objects.filter(kind=NotificationKind.PAYMENT_RECEIPT).count() == 1
        assert len(mail.outbox) == 1

    def test_delivering_again_sends_nothing_more(self, fake_stripe, django_capture_on_commit_callbacks):
        cust = customer()
        card_payment = paid(fake_stripe, cust)
        with django_capture_on_commit_callbacks(execute=True):
            card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        note = Notification.objects.get(kind=NotificationKind.PAYMENT_RECEIPT)
        card_receipt_email_deliver(notification_id=note.pk, actor=SYSTEM)
        assert len(mail.outbox) == 1

    def test_an_automatic_top_up_gets_its_notice_not_a_receipt_email(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        before = Notification.objects.filter(kind=NotificationKind.PAYMENT_RECEIPT).count()
        charge = card_charge_off_session(customer_id=cust.pk, amount=D("50"), idempotency_key="auto-top-up:t",
                                         actor=SYSTEM)
        assert charge.status == CardPaymentStatus.SUCCEEDED
        assert Notification.objects.filter(kind=NotificationKind.PAYMENT_RECEIPT).count() == before


class TestAlreadyPaidInvoice:
    def test_a_card_payment_for_an_invoice_paid_meanwhile_stays_as_credit_and_the_receipt_says_so(
            self, fake_stripe, django_capture_on_commit_callbacks):
        cust = customer()
        invoice = purchase_invoice(cust, "60")
        card_payment = paid(fake_stripe, cust, "60", invoice_id=invoice.pk)
        top_up(cust, "60")  # credits arrive another way, and pay the invoice before the card money lands
        invoice_self_pay_with_credits(invoice_id=invoice.pk, customer_id=cust.pk, actor=CUSTOMER)
        with django_capture_on_commit_callbacks(execute=True):
            card_payment = card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        said = f"Invoice {invoice.number} was already paid; this payment stays as credit on your account."
        assert stays_as_credit_note(card_payment) == said
        assert said in receipt_pdf_html(card_payment)
        assert said in mail.outbox[0].body

    def test_a_card_payment_that_paid_its_invoice_has_no_such_note(self, fake_stripe):
        cust = customer()
        invoice = purchase_invoice(cust, "60")
        card_payment = paid(fake_stripe, cust, "60", invoice_id=invoice.pk)
        card_payment = card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        assert stays_as_credit_note(card_payment) == ""
        assert f"paid invoice {invoice.number}" in receipt_pdf_html(card_payment)


class TestReceiptPdf:
    def test_renders_a_pdf(self, fake_stripe):
        cust = customer()
        card_payment = paid(fake_stripe, cust)
        card_payment = card_payment_fulfil(checkout_session_id=card_payment.checkout_session_id, actor=CUSTOMER)
        assert render_receipt_pdf(card_payment).startswith(b"%PDF")
        html = receipt_pdf_html(card_payment)
        assert "25.00 SGD" in html and "Visa ending 4242" in html
        assert card_payment.payment_intent_id not in html and card_payment.checkout_session_id not in html

    def test_an_unpaid_card_payment_has_no_receipt(self, fake_stripe):
        with pytest.raises(ValueError):
            receipt_pdf_html(start(customer()))


class TestCustomerPayments:
    @pytest.fixture
    def history(self, fake_stripe):
        cust = customer()
        other = customer()
        bank = payment(cust, "500", reference="BANK-REF-1", remark="INTERNAL remark: chased by Alice")
        invoice = purchase_invoice(cust, "120")
        payment_allocate(payment=bank, lines=[(invoice.pk, D("120"))], actor=SYSTEM)
        deposit = top_up_invoice(cust, "100")
        payment_allocate(payment=bank, lines=[(deposit.pk, D("100"))], actor=SYSTEM)  # provisions it
        payment_top_up(payment=bank, amount=D("30"), remark="INTERNAL top-up remark", actor=SYSTEM)
        card = card_payment_fulfil(checkout_session_id=paid(fake_stripe, cust).checkout_session_id, actor=CUSTOMER)
        start(cust, "40")  # pending: shown as awaiting payment
        payment(other, "999")
        card_payment_fulfil(checkout_session_id=paid(fake_stripe, other, "77").checkout_session_id, actor=CUSTOMER)
        return cust, invoice, deposit, card

    def test_lists_card_payments_allocations_and_top_ups_of_this_customer_only(self, history):
        cust, invoice, deposit, card = history
        rows = list(customer_payments(cust))
        kinds = sorted((r.kind, r.amount, r.invoice_number) for r in rows)
        assert kinds == sorted([
            (PaymentKind.ALLOCATION, D("120"), invoice.number),
            (PaymentKind.TOP_UP, D("100"), deposit.number),
            (PaymentKind.TOP_UP, D("30"), ""),
            (PaymentKind.CARD, D("25"), ""),
            (PaymentKind.CARD, D("40"), ""),
        ])
        assert [r.has_receipt for r in rows if r.kind == PaymentKind.CARD].count(True) == 1
        assert {r.reference for r in rows if r.kind != PaymentKind.CARD} == {"BANK-REF-1"}

    def test_rows_carry_the_allowed_columns_only(self, history):
        cust, *_ = history
        for row in customer_payments(cust):
            assert tuple(vars(row)) == PAYMENT_COLUMNS
            assert "INTERNAL" not in " ".join(str(v) for v in vars(row).values())

    def test_filters_by_kind_and_date(self, history):
        cust, *_ = history
        assert {r.kind for r in customer_payments(cust, kind=PaymentKind.TOP_UP)} == {PaymentKind.TOP_UP}
        today = timezone.localdate()
        assert len(list(customer_payments(cust, date_from=today, date_to=today))) == 5
        assert list(customer_payments(cust, date_to=today - dt.timedelta(days=1))) == []

    def test_pages_are_slices_of_one_union_query(self, history, django_assert_num_queries):
        cust, *_ = history
        rows = customer_payments(cust)
        with django_assert_num_queries(2):
            assert rows.count() == 5
            assert len(rows[0:2]) == 2
