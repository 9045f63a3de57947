"""The monthly billing run, per invoice setup, idempotent per customer and period."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from customers.models import Customer, Transaction, TransactionKind
from finance.services.billing import PAYMENT_CASH
from invoices.models import CreditApplication, Invoice, InvoiceLineEntry, InvoiceStatus, InvoiceType
from invoices.selectors import billing_candidates
from invoices.services import BillingError, bill_customer_period, monthly_billing_run
from tests.customers.factories import CustomerFactory, ledger_post, top_up
from tests.invoices.conftest import assert_ledger_consistent
from tests.invoices.factories import SYSTEM, usage

pytestmark = pytest.mark.django_db

D = Decimal
SGT = ZoneInfo("Asia/Singapore")
FEB = dt.date(2026, 2, 1)
IN_FEB = dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT)
AT = dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT)  # the run on the 1st


def run(**kwargs):
    return monthly_billing_run(cash_source=PAYMENT_CASH, period="2026-02", actor=SYSTEM, at=AT,
                               via_celery=False, **kwargs)


def figures(*customers):
    return [tuple(Customer.objects.filter(pk=c.pk).values_list("amount_unbilled", "amount_due").get())
            for c in customers]


def balance(customer):
    customer.refresh_from_db()
    return customer.current_balance


class TestIndividualCustomer:
    def test_bills_usage_only_into_a_monthly_tax_invoice(self, customer):
        calls = [usage(customer, a, at=IN_FEB) for a in ("1.25", "0.000009", "10")]
        sms = usage(customer, "0.05", kind=TransactionKind.SMS, at=IN_FEB)
        purchase = ledger_post(customer, TransactionKind.SUBSCRIPTION, D("-20"), at=IN_FEB)  # a purchase invoice's job
        march = usage(customer, "3", at=dt.datetime(2026, 3, 1, 0, 30, tzinfo=SGT))  # after the period
        before = balance(customer)

        result = run()

        assert result.candidates == 1 and len(result.invoiced) == 1 and result.failed == []
        invoice = Invoice.objects.get(pk=result.invoiced[0])
        assert (invoice.type, invoice.status, invoice.period_start) == (InvoiceType.MONTHLY, InvoiceStatus.SENT, FEB)
        assert invoice.source_key == f"monthly:{customer.pk}:2026-02"
        assert invoice.issue_date == dt.date(2026, 3, 1) and invoice.due_date == dt.date(2026, 3, 15)
        lines = list(invoice.lines.order_by("position"))
        assert [(ln.kind, ln.amount, ln.tax_rate) for ln in lines] == [
            ("call", D("11.250009"), D("9")), ("sms", D("0.05"), D("9"))]
        assert "3 entries" in lines[0].description and "1 entry" in lines[1].description
        assert invoice.subtotal == D("11.300009")
        assert invoice.tax == D("1.012501") + D("0.0045")  # per line, six places, half up
        assert invoice.total == invoice.subtotal + invoice.tax
        # every billed entry is linked to its line and carries the invoice number
        assert set(InvoiceLineEntry.objects.filter(line=lines[0]).values_list("transaction_id", flat=True)) == {
            c.pk for c in calls}
        assert InvoiceLineEntry.objects.get(line=lines[1]).transaction_id == sms.pk
        billed = set(Transaction.objects.filter(billed_document=invoice.number).values_list("pk", flat=True))
        assert billed == {c.pk for c in calls} | {sms.pk}
        for untouched in (purchase, march):
            untouched.refresh_from_db()
            assert untouched.billed_at is None
        customer.refresh_from_db()
        assert customer.amount_unbilled == D("-23")  # the purchase and March's call remain
        assert customer.amount_due == -invoice.total
        assert customer.current_balance == before - invoice.tax  # billing adds only the tax
        assert_ledger_consistent(customer)
        (event,) = AuditEvent.objects.filter(action="invoices.invoice.bill_monthly")
        assert event.after["entries_billed"] == 4 and event.customer_id == customer.pk
        assert len(mail.outbox) == 0  # run(): delivered after commit, which the test transaction never reaches

    def test_applies_the_unapplied_credit_in_the_amount_due(self, customer):
        top_up(customer, "5", at=IN_FEB)  # `individual`: top-up credit stays in the amount due
        usage(customer, "10", at=IN_FEB)
        before = balance(customer)
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        assert invoice.total == D("10.9")
        assert (invoice.amount_paid, invoice.status) == (D("5"), InvoiceStatus.PARTIALLY_PAID)
        (credit,) = CreditApplication.objects.all()
        assert (credit.source, credit.amount, credit.transaction_id) == ("amount_due", D("5"), None)
        customer.refresh_from_db()
        assert customer.amount_due == D("5") - D("10.9")  # no ledger movement for the credit
        assert not Transaction.objects.filter(kind=TransactionKind.CREDIT_APPLIED).exists()
        assert customer.current_balance == before - D("0.9")
        assert_ledger_consistent(customer)

    def test_credit_already_used_by_an_open_invoice_is_not_used_twice(self, customer):
        from tests.invoices.factories import purchase_invoice

        top_up(customer, "100", at=IN_FEB)
        purchase_invoice(customer, sent=True)  # 109 owed; nobody applied the 100 of credit to it
        usage(customer, "10", at=IN_FEB)
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        # unapplied = due (100 - 109 - 10.9) + open outstanding (109 + 10.9) = 100, so the new invoice is paid
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == D("10.9")
        # a second month finds 89.1 left, not 100
        usage(customer, "100", at=dt.datetime(2026, 3, 5, tzinfo=SGT))
        march = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=customer.pk, period="2026-03",
                                     actor=SYSTEM,
                                     at=dt.datetime(2026, 4, 1, 1, tzinfo=SGT), via_celery=False)
        assert march.amount_paid == D("89.1") and march.status == InvoiceStatus.PARTIALLY_PAID


class TestConsolidatedCustomer:
    def test_bills_every_charge_and_applies_unbilled_credit(self, consolidated):
        c = consolidated
        top_up(c, "500", at=IN_FEB)  # unbilled CR for consolidated customers
        calls = [usage(c, a, at=IN_FEB) for a in ("2", "3")]
        sub = ledger_post(c, TransactionKind.SUBSCRIPTION, D("-40"), at=IN_FEB, description="Cloud PBX x2")
        adj = ledger_post(c, TransactionKind.ADJUSTMENT, D("-1.5"), at=IN_FEB, description="Late fee")
        goodwill = ledger_post(c, TransactionKind.ADJUSTMENT, D("4"), at=IN_FEB)  # CR: credit, not a line
        before = balance(c)

        invoice = Invoice.objects.get(pk=run().invoiced[0])

        lines = list(invoice.lines.order_by("position"))
        assert [(ln.kind, ln.amount) for ln in lines] == [("call", D("5")), ("subscription", D("40")),
                                                          ("adjustment", D("1.5"))]
        assert lines[1].transaction_id == sub.pk and lines[2].transaction_id == adj.pk
        assert lines[1].description == "Subscription: Cloud PBX x2"
        assert {e.transaction_id for e in InvoiceLineEntry.objects.filter(line=lines[0])} == {x.pk for x in calls}
        assert invoice.total == D("46.5") + D("4.185")
        # credit: 500 + 4 - 46.5 billed... the unbilled CR pays the whole invoice
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == invoice.total
        unbilled_leg, due_leg = Transaction.objects.filter(kind=TransactionKind.CREDIT_APPLIED).order_by("pk")
        assert (unbilled_leg.bucket, unbilled_leg.amount) == ("unbilled", -invoice.total)
        assert (due_leg.bucket, due_leg.amount) == ("due", invoice.total)
        (credit,) = CreditApplication.objects.all()
        assert (credit.source, credit.amount, credit.transaction_id) == ("unbilled", invoice.total, unbilled_leg.pk)
        goodwill.refresh_from_db()
        assert goodwill.billed_at is None
        c.refresh_from_db()
        assert c.amount_due == D("0")
        assert c.amount_unbilled == D("504") - invoice.total
        assert c.current_balance == before - invoice.tax
        assert_ledger_consistent(c)

    def test_credit_held_by_calls_in_flight_is_not_applied(self, consolidated):
        from customers.services import reservation_reserve

        top_up(consolidated, "30", at=IN_FEB)
        usage(consolidated, "20", at=IN_FEB)
        reservation_reserve(customer_id=consolidated.pk, amount=D("6"), actor=SYSTEM, at=AT)
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        # 30 of credit, 6 held by an open reservation: 24 applied of the 21.8 owed -> paid
        assert invoice.total == D("21.8") and invoice.status == InvoiceStatus.PAID
        usage(consolidated, "15", at=dt.datetime(2026, 3, 3, tzinfo=SGT))
        march = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=consolidated.pk, period="2026-03",
                                     actor=SYSTEM,
                                     at=dt.datetime(2026, 4, 1, 1, tzinfo=SGT), via_celery=False)
        # left: 30 - 21.8 = 8.2 unbilled CR, minus 6 reserved = 2.2 applied to 16.35
        assert march.amount_paid == D("2.2") and march.status == InvoiceStatus.PARTIALLY_PAID
        assert_ledger_consistent(consolidated)

    def test_no_credit_leaves_the_invoice_awaiting_payment(self, consolidated):
        usage(consolidated, "8", at=IN_FEB)
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        assert invoice.status == InvoiceStatus.SENT and invoice.amount_paid == 0
        assert not CreditApplication.objects.exists()


class TestNoInvoicesCustomer:
    def test_is_never_invoiced(self, no_invoices):
        usage(no_invoices, "8", at=IN_FEB)
        assert billing_candidates(FEB) == []
        assert bill_customer_period(cash_source=PAYMENT_CASH, customer_id=no_invoices.pk, period=FEB,
                                    actor=SYSTEM, at=AT) is None
        assert not Invoice.objects.exists()


class TestIdempotence:
    def test_running_twice_gives_one_invoice_per_customer(self, customer, consolidated, no_invoices):
        for c in (customer, consolidated, no_invoices):
            usage(c, "7", at=IN_FEB)
        first = run()
        after_first = figures(customer, consolidated)
        events = AuditEvent.objects.count()
        second = run()
        assert len(first.invoiced) == 2 and second.invoiced == [] and second.candidates == 0
        assert Invoice.objects.filter(type=InvoiceType.MONTHLY).count() == 2
        assert figures(customer, consolidated) == after_first
        assert AuditEvent.objects.count() == events
        # asked directly for a customer already billed, the run changes nothing either
        again = run(customer_ids=[customer.pk, consolidated.pk])
        assert again.invoiced == [] and again.nothing_to_bill == 2

    def test_the_command_twice_gives_one_invoice(self, customer, capsys):
        import time_machine

        usage(customer, "7", at=IN_FEB)
        with time_machine.travel(AT, tick=False):
            call_command("billing_run", "--period", "2026-02", "--email-now")
            call_command("billing_run", "--period", "2026-02", "--email-now")
        out = capsys.readouterr().out
        assert "1 customers, 1 invoices issued" in out and "0 customers, 0 invoices issued" in out
        assert Invoice.objects.count() == 1

    def test_a_new_charge_after_the_run_waits_for_next_month(self, customer):
        usage(customer, "7", at=IN_FEB)
        run()
        late = usage(customer, "2", at=IN_FEB)  # rated late, dated in February
        assert run().invoiced == []
        late.refresh_from_db()
        assert late.billed_at is None  # a straggler: the March run bills it
        march = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=customer.pk, period="2026-03",
                                     actor=SYSTEM,
                                     at=dt.datetime(2026, 4, 1, 1, tzinfo=SGT), via_celery=False)
        assert march.subtotal == D("2")


class TestCandidatesAndPeriods:
    def test_candidates_are_found_in_one_query(self, customer, consolidated, django_assert_num_queries):
        for _ in range(5):
            usage(CustomerFactory(), "1", at=IN_FEB)
        usage(customer, "1", at=dt.datetime(2026, 3, 2, tzinfo=SGT))  # March only: not a February candidate
        top_up(consolidated, "10", at=IN_FEB)  # credit only: nothing to bill
        with django_assert_num_queries(1):
            ids = billing_candidates(FEB)
        assert len(ids) == 5 and customer.pk not in ids and consolidated.pk not in ids

    def test_the_month_ends_at_midnight_in_the_operators_time_zone(self, customer):
        usage(customer, "1", at=dt.datetime(2026, 2, 28, 23, 59, tzinfo=SGT))
        after = usage(customer, "2", at=dt.datetime(2026, 2, 28, 16, 0, tzinfo=dt.UTC))  # 1 March 00:00 SGT
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        assert invoice.subtotal == D("1")
        after.refresh_from_db()
        assert after.billed_at is None

    def test_refuses_a_month_that_has_not_ended(self, customer):
        usage(customer, "1", at=IN_FEB)
        with pytest.raises(BillingError, match="February 2026 has not ended yet"):
            monthly_billing_run(cash_source=PAYMENT_CASH, period="2026-02", actor=SYSTEM,
                                at=dt.datetime(2026, 2, 28, 12, tzinfo=SGT))
        assert not Invoice.objects.exists()

    @pytest.mark.parametrize("period", ["2026-13", "Feb", "", "2026/02"])
    def test_refuses_a_bad_period(self, db, period):
        with pytest.raises(BillingError, match="YYYY-MM"):
            monthly_billing_run(cash_source=PAYMENT_CASH, period=period, actor=SYSTEM, at=AT)

    def test_the_command_reports_a_bad_period_and_an_unknown_customer(self, db):
        with pytest.raises(CommandError, match="YYYY-MM"):
            call_command("billing_run", "--period", "20-2")
        with pytest.raises(CommandError, match="No customer with code NOPE"):
            call_command("billing_run", "--period", "2026-02", "--customer", "NOPE")

    def test_a_failing_customer_does_not_stop_the_others(self, customer):
        usage(customer, "1", at=IN_FEB)
        result = run(customer_ids=[987654, customer.pk])
        assert result.failed == [(987654, "There is no customer #987654.")]
        assert len(result.invoiced) == 1


class TestEmails:
    def test_each_invoice_is_emailed_after_commit(self, customer, consolidated, django_capture_on_commit_callbacks):
        for c in (customer, consolidated):
            usage(c, "7", at=IN_FEB)
        with django_capture_on_commit_callbacks(execute=True):
            result = run()
        assert sorted(m.to[0] for m in mail.outbox) == ["ap@acme.example", "billing@globex.example"]
        assert all(m.attachments[0][2] == "application/pdf" for m in mail.outbox)
        assert len(result.invoiced) == 2
        assert not Invoice.objects.filter(pk__in=result.invoiced, emailed_at__isnull=True).exists()


class TestReversals:
    """Staff's reversal of a charge (customers.adjustment_post with reverses_id) nets into that charge's line."""

    def reverse(self, customer, entry, at=AT):
        from customers.services import adjustment_post

        return adjustment_post(customer_id=customer.pk, reverses_id=entry.pk, reason="Rated twice", actor=SYSTEM,
                               at=at)

    def test_a_duplicate_call_reversed_is_neither_invoiced_nor_taxed(self, customer):
        usage(customer, "4.2", at=IN_FEB)
        duplicate = usage(customer, "4.2", at=IN_FEB)
        reversal = self.reverse(customer, duplicate)  # dated 1 March, before the run: still netted
        before = balance(customer)
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        (line,) = invoice.lines.all()
        assert (line.amount, line.tax_amount) == (D("4.2"), D("0.378")) and "3 entries" in line.description
        assert reversal.pk in set(InvoiceLineEntry.objects.filter(line=line).values_list("transaction_id", flat=True))
        reversal.refresh_from_db()
        assert reversal.billed_document == invoice.number
        customer.refresh_from_db()
        assert customer.amount_unbilled == 0 and customer.current_balance == before - D("0.378")
        assert_ledger_consistent(customer)

    def test_a_reversed_purchase_line_is_zero(self, consolidated):
        sub = ledger_post(consolidated, TransactionKind.SUBSCRIPTION, D("-40"), at=IN_FEB, description="PBX")
        usage(consolidated, "10", at=IN_FEB)
        self.reverse(consolidated, sub, at=IN_FEB)
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        lines = {ln.kind: ln for ln in invoice.lines.all()}
        assert lines["subscription"].amount == 0 and lines["subscription"].description == "Subscription: PBX (reversed)"
        assert invoice.subtotal == D("10")
        assert_ledger_consistent(consolidated)

    def test_a_month_whose_charges_were_all_reversed_gives_a_settled_zero_invoice(self, customer):
        self.reverse(customer, usage(customer, "4.2", at=IN_FEB))
        invoice = Invoice.objects.get(pk=run().invoiced[0])
        assert (invoice.total, invoice.status) == (D("0"), InvoiceStatus.PAID) and invoice.paid_at == AT
        assert not Transaction.objects.filter(kind=TransactionKind.INVOICE).exists()
        assert run().invoiced == []  # billed: the month is done
        assert_ledger_consistent(customer)

    def test_the_reversal_of_a_charge_already_invoiced_is_credit(self, consolidated):
        call = usage(consolidated, "4.2", at=IN_FEB)
        run()
        self.reverse(consolidated, call, at=dt.datetime(2026, 3, 3, tzinfo=SGT))
        usage(consolidated, "10", at=dt.datetime(2026, 3, 5, tzinfo=SGT))
        march = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=consolidated.pk, period="2026-03",
                                     actor=SYSTEM,
                                     at=dt.datetime(2026, 4, 1, 1, tzinfo=SGT), via_celery=False)
        assert march.subtotal == D("10") and march.amount_paid == D("4.2")  # the reversal pays part of it
        assert_ledger_consistent(consolidated)
