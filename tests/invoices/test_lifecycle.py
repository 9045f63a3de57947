"""The invoice lifecycle: create, send / mark as sent, void; every refusal changes nothing."""

from decimal import Decimal

import pytest
from django.core import mail

from audit.models import AuditEvent
from customers.models import Notification, Transaction, TransactionKind
from invoices import settlement
from invoices.locks import lock_invoice
from invoices.models import Invoice, InvoiceStatus, InvoiceType, NumberSeries
from invoices.services import (
    InvoiceError,
    PurchaseLine,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
    invoice_send,
    invoice_void,
)
from tests.customers.factories import CustomerFactory
from tests.invoices.conftest import assert_ledger_consistent
from tests.invoices.factories import SYSTEM, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db

D = Decimal


def state():
    """Everything an invoice action could change: a refused action must leave it equal."""
    return (list(Invoice.objects.order_by("pk").values()), list(NumberSeries.objects.values()),
            Transaction.objects.count(), Notification.objects.count(), AuditEvent.objects.count())


def events(action):
    return AuditEvent.objects.filter(action=action)


class TestCreateTopUp:
    def test_creates_a_numbered_untaxed_draft(self, customer):
        invoice = invoice_create_top_up(customer_id=customer.pk, amount="250.50", name="Top-up March",
                                        actor=SYSTEM)
        assert invoice.status == InvoiceStatus.DRAFT and invoice.type == InvoiceType.TOP_UP
        assert invoice.number == f"INV-{invoice.issue_date.year}-000001"
        assert (invoice.subtotal, invoice.tax, invoice.total) == (D("250.50"), D("0"), D("250.50"))
        assert invoice.currency == "SGD" and "Acme Pte Ltd" in invoice.billing_to
        (line,) = invoice.lines.all()
        assert (line.quantity, line.unit_price, line.tax_rate, line.amount) == (D(1), D("250.5"), D(0), D("250.5"))
        (event,) = events("invoices.invoice.create")
        assert event.customer_id == customer.pk and event.after["total"] == "250.500000"
        assert Transaction.objects.count() == 0  # a draft posts nothing

    def test_numbers_follow_one_another(self, customer):
        numbers = [top_up_invoice(customer, "20").number for _ in range(3)]
        assert [n[-6:] for n in numbers] == ["000001", "000002", "000003"]

    @pytest.mark.parametrize("amount, message", [
        ("0", "must be more than zero"), ("-5", "must be more than zero"), ("abc", "must be a number"),
        ("", "is required"), ("5", "at least 10.00 SGD"), ("1.0000001", "at most 6 decimal places"),
    ])
    def test_refuses_a_bad_amount(self, customer, amount, message):
        before = state()
        with pytest.raises(InvoiceError, match=message):
            invoice_create_top_up(customer_id=customer.pk, amount=amount, actor=SYSTEM)
        assert state() == before

    def test_refuses_a_float(self, customer):
        with pytest.raises(InvoiceError, match="not a floating-point"):
            invoice_create_top_up(customer_id=customer.pk, amount=100.0, actor=SYSTEM)

    def test_refuses_an_unknown_customer(self, db):
        before = state()
        with pytest.raises(InvoiceError, match="There is no customer #999999"):
            invoice_create_top_up(customer_id=999999, amount="100", actor=SYSTEM)
        assert state() == before

    def test_refuses_a_due_date_before_the_issue_date(self, customer):
        import datetime as dt

        with pytest.raises(InvoiceError, match="due date cannot be before"):
            invoice_create_top_up(customer_id=customer.pk, amount="100", actor=SYSTEM,
                                  issue_date=dt.date(2026, 3, 10), due_date=dt.date(2026, 3, 9))


class TestCreatePurchase:
    LINES = [PurchaseLine(description="Cloud PBX seat", quantity="2", unit_price="19.99", kind="subscription"),
             PurchaseLine(description="IP phone", quantity="1", unit_price="100", kind="hardware")]

    def test_totals_with_tax_per_line(self, customer):
        invoice = invoice_create_purchase(customer_id=customer.pk, lines=self.LINES, name="March order",
                                          actor=SYSTEM)
        assert invoice.type == InvoiceType.PURCHASE and invoice.status == InvoiceStatus.DRAFT
        lines = list(invoice.lines.all())
        assert [(ln.amount, ln.tax_amount, ln.kind) for ln in lines] == [
            (D("39.98"), D("3.5982"), "subscription"), (D("100"), D("9"), "hardware")]
        assert (invoice.subtotal, invoice.tax, invoice.total) == (D("139.98"), D("12.5982"), D("152.5782"))

    def test_a_line_may_carry_its_own_tax_rate(self, customer):
        invoice = invoice_create_purchase(customer_id=customer.pk, actor=SYSTEM, lines=[
            PurchaseLine(description="Export service", quantity="1", unit_price="50", kind="service", tax_rate="0")])
        assert (invoice.tax, invoice.total) == (D("0"), D("50"))

    @pytest.mark.parametrize("line, message", [
        (PurchaseLine(description="", quantity="1", unit_price="10"), "Line 1: the description is required"),
        (PurchaseLine(description="x", quantity="0", unit_price="10"), "Line 1: the quantity must be more than zero"),
        (PurchaseLine(description="x", quantity="1.0001", unit_price="10"), "at most 3 decimal places"),
        (PurchaseLine(description="x", quantity="two", unit_price="10"), "the quantity must be a number"),
        (PurchaseLine(description="x", quantity="1", unit_price="-10"), "the unit price must be more than zero"),
        (PurchaseLine(description="x", quantity="1", unit_price="10", kind="call"), "a purchase is one of"),
        (PurchaseLine(description="x", quantity="1", unit_price="10", tax_rate="101"), "from 0 to 100"),
        (PurchaseLine(description="x", quantity="1", unit_price="0"), "total must be more than zero"),
        # quantities, prices and rates are parsed as strictly as any amount (customers.money.parse_decimal)
        (PurchaseLine(description="x", quantity="1e2", unit_price="10"), "the quantity cannot be written with an exp"),
        (PurchaseLine(description="x", quantity="١", unit_price="10"), "the quantity must be written with the digits"),
        (PurchaseLine(description="x", quantity="1,0", unit_price="10"), "the quantity has a comma in the wrong place"),
        (PurchaseLine(description="x", quantity="NaN", unit_price="10"), "the quantity must be a number"),
        (PurchaseLine(description="x", quantity="1", unit_price="1E1"), "the unit price cannot be written with an exp"),
        (PurchaseLine(description="x", quantity="1", unit_price="10,00"), "the unit price has a comma in the wrong"),
        (PurchaseLine(description="x", quantity="1", unit_price="10", tax_rate="9e0"), "the tax rate cannot be wri"),
        (PurchaseLine(description="x", quantity="1", unit_price="10", tax_rate="٩"), "the tax rate must be written"),
        (PurchaseLine(description="x", quantity="1", unit_price="10", tax_rate="9.00001"), "at most 4 decimal places"),
    ])
    def test_refuses_a_bad_line(self, customer, line, message):
        before = state()
        with pytest.raises(InvoiceError, match=message):
            invoice_create_purchase(customer_id=customer.pk, lines=[line], actor=SYSTEM)
        assert state() == before

    def test_refuses_no_lines(self, customer):
        with pytest.raises(InvoiceError, match="at least one line"):
            invoice_create_purchase(customer_id=customer.pk, lines=[], actor=SYSTEM)

    def test_refuses_customers_billed_monthly_or_never(self, consolidated, no_invoices):
        before = state()
        for c in (consolidated, no_invoices):
            with pytest.raises(InvoiceError, match="purchase invoices are only for customers with individual"):
                invoice_create_purchase(customer_id=c.pk, lines=self.LINES, actor=SYSTEM)
        assert state() == before


class TestSend:
    def test_sending_a_top_up_emails_it_and_posts_nothing(self, customer, django_capture_on_commit_callbacks):
        invoice = top_up_invoice(customer, "300")
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
        assert invoice.status == InvoiceStatus.SENT and invoice.sent_at is not None
        assert Transaction.objects.count() == 0  # a deposit asked for, not a debt
        (message,) = mail.outbox
        assert message.to == ["ap@acme.example"] and invoice.number in message.subject
        (name, content, mimetype) = message.attachments[0]
        assert name == f"{invoice.number}.pdf" and mimetype == "application/pdf" and content[:5] == b"%PDF-"
        (note,) = Notification.objects.all()
        assert (note.kind, note.status, note.source_type, note.source_id) == ("invoice", "sent", "invoices.invoice",
                                                                            invoice.pk)
        invoice.refresh_from_db()
        assert invoice.emailed_at is not None
        assert events("invoices.invoice.send").count() == 1 and events("invoices.invoice.email").count() == 1

    def test_sending_a_purchase_bills_its_charges_and_puts_the_total_on_the_amount_due(
            self, customer, django_capture_on_commit_callbacks):
        invoice = purchase_invoice(customer, TestCreatePurchase.LINES)
        with django_capture_on_commit_callbacks(execute=True):
            invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
        customer.refresh_from_db()
        assert customer.amount_unbilled == D("0")  # Expecting invoice unchanged by a purchase
        assert customer.amount_due == D("-152.5782")  # the invoice total, tax included
        charges = Transaction.objects.filter(kind__in=["subscription", "hardware"]).order_by("pk")
        assert [(t.amount, t.billed_document) for t in charges] == [
            (D("-39.98"), invoice.number), (D("-100"), invoice.number)]
        assert all(ln.transaction_id for ln in invoice.lines.all())
        (entry,) = Transaction.objects.filter(kind=TransactionKind.INVOICE)
        assert (entry.amount, entry.bucket, entry.source_id) == (D("-152.5782"), "due", invoice.pk)
        assert_ledger_consistent(customer)

    def test_sending_again_emails_again_and_posts_nothing(self, customer, django_capture_on_commit_callbacks):
        invoice = purchase_invoice(customer, sent=True)
        entries = Transaction.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
        assert len(mail.outbox) == 1 and Transaction.objects.count() == entries
        assert events("invoices.invoice.resend").count() == 1

    def test_a_failed_email_is_recorded_on_the_notification(self, customer, settings,
                                                             django_capture_on_commit_callbacks):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
        invoice = top_up_invoice(customer, "100")
        with django_capture_on_commit_callbacks(execute=True):
            invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
        (note,) = Notification.objects.all()
        assert note.status == "failed" and note.body
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT and invoice.emailed_at is None

    def test_refuses_a_void_invoice(self, customer):
        invoice = top_up_invoice(customer)
        invoice_void(invoice_id=invoice.pk, reason="typo", actor=SYSTEM)
        before = state()
        with pytest.raises(InvoiceError, match="is void"):
            invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
        assert state() == before

    def test_refuses_a_customer_without_billing_email(self, db):
        c = CustomerFactory(billing_email="")
        invoice = top_up_invoice(c)
        before = state()
        with pytest.raises(InvoiceError, match="no billing email"):
            invoice_send(invoice_id=invoice.pk, actor=SYSTEM)
        assert state() == before

    def test_refuses_an_unknown_invoice(self, db):
        with pytest.raises(InvoiceError, match="There is no invoice #424242"):
            invoice_send(invoice_id=424242, actor=SYSTEM)


class TestMarkSent:
    def test_issues_without_email(self, customer, django_capture_on_commit_callbacks):
        invoice = purchase_invoice(customer)
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
        assert invoice.status == InvoiceStatus.SENT and invoice.emailed_at is None
        assert mail.outbox == [] and Notification.objects.count() == 0
        customer.refresh_from_db()
        assert customer.amount_due == -invoice.total
        assert events("invoices.invoice.mark_sent").count() == 1
        assert_ledger_consistent(customer)

    @pytest.mark.parametrize("setup", ["sent", "void"])
    def test_refuses_anything_but_a_draft(self, customer, setup):
        invoice = top_up_invoice(customer, sent=setup == "sent")
        if setup == "void":
            invoice_void(invoice_id=invoice.pk, reason="typo", actor=SYSTEM)
        before = state()
        with pytest.raises(InvoiceError, match="only a draft can be marked as sent"):
            invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
        assert state() == before


class TestTopUpMustBeSentBeforeAllocation:
    def test_settlement_refuses_a_draft(self, customer):
        from django.db import transaction
        from django.utils import timezone

        invoice = top_up_invoice(customer)
        with transaction.atomic(), pytest.raises(settlement.SettlementError, match="is draft"):
            settlement.apply(lock_invoice(invoice.pk), D("10"), at=timezone.now())


class TestVoid:
    def test_voids_a_draft_and_keeps_its_number(self, customer):
        invoice = purchase_invoice(customer)
        voided = invoice_void(invoice_id=invoice.pk, reason="Entered twice", actor=SYSTEM)
        assert voided.status == InvoiceStatus.VOID and voided.number == invoice.number
        assert voided.void_reason == "Entered twice" and voided.voided_at is not None
        (event,) = events("invoices.invoice.void")
        assert event.before["status"] == "draft" and event.after["status"] == "void" and event.reason == "Entered twice"

    def test_voids_a_top_up_awaiting_payment_with_nothing_allocated(self, customer):
        invoice = top_up_invoice(customer, sent=True)
        entries = Transaction.objects.count()
        voided = invoice_void(invoice_id=invoice.pk, reason="Customer paid by card instead", actor=SYSTEM)
        assert voided.status == InvoiceStatus.VOID and voided.number == invoice.number
        assert Transaction.objects.count() == entries  # a top-up posted nothing, so nothing is reversed
        assert_ledger_consistent(customer)

    def _settle(self, invoice, amount):
        from django.db import transaction
        from django.utils import timezone

        with transaction.atomic():
            settlement.apply(lock_invoice(invoice.pk), D(amount), at=timezone.now())

    @pytest.mark.parametrize("paid, status", [("40", "partially paid"), ("100", "paid")])
    def test_refuses_a_top_up_with_an_allocation(self, customer, paid, status):
        invoice = top_up_invoice(customer, "100", sent=True)
        self._settle(invoice, paid)
        before = state()
        with pytest.raises(InvoiceError, match=f"allocated \\({status}\\): remove the allocation"):
            invoice_void(invoice_id=invoice.pk, reason="x", actor=SYSTEM)
        assert state() == before

    def test_refuses_a_provisioned_top_up(self, customer):
        from django.utils import timezone

        invoice = top_up_invoice(customer, "100", sent=True)
        self._settle(invoice, "100")
        Invoice.objects.filter(pk=invoice.pk).update(provisioned_at=timezone.now())
        with pytest.raises(InvoiceError, match="remove the allocation"):
            invoice_void(invoice_id=invoice.pk, reason="x", actor=SYSTEM)

    def test_refuses_a_sent_purchase_invoice_which_needs_a_credit_note(self, customer):
        invoice = purchase_invoice(customer, sent=True)
        before = state()
        with pytest.raises(InvoiceError, match="cancelled with a credit note"):
            invoice_void(invoice_id=invoice.pk, reason="x", actor=SYSTEM)
        assert state() == before

    def test_refuses_a_sent_monthly_invoice_which_needs_a_credit_note(self, customer):
        import datetime as dt

        from tests.invoices.factories import monthly_invoice, usage

        usage(customer, "12.5", at=dt.datetime(2026, 2, 10, tzinfo=dt.UTC))
        invoice = monthly_invoice(customer, "2026-02")
        with pytest.raises(InvoiceError, match="a monthly invoice is cancelled with a credit note"):
            invoice_void(invoice_id=invoice.pk, reason="x", actor=SYSTEM)

    def test_refuses_an_invoice_already_void(self, customer):
        invoice = top_up_invoice(customer)
        invoice_void(invoice_id=invoice.pk, reason="typo", actor=SYSTEM)
        before = state()
        with pytest.raises(InvoiceError, match="already void"):
            invoice_void(invoice_id=invoice.pk, reason="again", actor=SYSTEM)
        assert state() == before

    def test_refuses_without_a_reason(self, customer):
        invoice = top_up_invoice(customer)
        before = state()
        with pytest.raises(InvoiceError, match="reason for voiding is required"):
            invoice_void(invoice_id=invoice.pk, reason="  ", actor=SYSTEM)
        assert state() == before
