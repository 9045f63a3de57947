import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from customers.models import Bucket, InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from customers.services import ChargeError, ChargeLine, adjustment_post, charge_post, charge_post_batch
from tests.customers.factories import NOW, SYSTEM, ledger_post, postpaid, prepaid, top_up

pytestmark = pytest.mark.django_db
D = Decimal


def charge(customer, amount, kind=TransactionKind.CALL, **kwargs):
    return charge_post(customer_id=customer.pk, kind=kind, amount=D(amount), actor=SYSTEM, at=NOW, **kwargs)


class TestChargePost:
    def test_posts_a_dr_entry_and_one_audit_event(self):
        customer = postpaid("100")
        row = charge(customer, "12.345678", reference="CDR-1")
        customer.refresh_from_db()
        assert row.amount == D("-12.345678") and row.bucket == Bucket.UNBILLED
        assert customer.expecting_invoice == D("-12.345678")
        (event,) = AuditEvent.objects.filter(action="customers.charge.post")
        assert event.before["usable_credits"] == "100.000000"
        assert event.after["usable_credits"] == "87.654322"

    def test_a_usage_charge_beyond_usable_credits_is_refused_and_changes_nothing(self):
        customer = prepaid()
        top_up(customer, "12.50")
        with pytest.raises(ChargeError, match=r"Not enough usable credits: 12.50 SGD available, 20.00 SGD asked\."):
            charge(customer, "20")
        customer.refresh_from_db()
        assert customer.usable_credits == D("12.50")
        assert Transaction.objects.count() == 1 and not AuditEvent.objects.exists()

    def test_a_charge_of_exactly_the_usable_credits_is_accepted(self):
        customer = postpaid("20")
        charge(customer, "20")
        customer.refresh_from_db()
        assert customer.usable_credits == D("0")

    def test_a_purchase_is_not_held_to_usable_credits(self):
        customer = prepaid(invoice_setup=InvoiceSetup.INDIVIDUAL)
        row = charge(customer, "199", kind=TransactionKind.HARDWARE)
        assert row.amount == D("-199")

    def test_the_same_idempotency_key_posts_once(self):
        customer = postpaid("100")
        first = charge(customer, "3", idempotency_key="cdr-42")
        again = charge(customer, "3", idempotency_key="cdr-42")
        assert again.pk == first.pk
        assert Transaction.objects.count() == 1 and AuditEvent.objects.count() == 1
        with pytest.raises(ChargeError, match="already used for a different charge"):
            charge(customer, "4", idempotency_key="cdr-42")

    @pytest.mark.parametrize(("amount", "kind", "message"), [
        ("0", TransactionKind.CALL, "more than zero"),
        ("-5", TransactionKind.CALL, "more than zero"),
        ("1.0000001", TransactionKind.CALL, "at most 6 decimal places"),
        ("5", TransactionKind.TOP_UP, "is not a charge"),
        ("5", TransactionKind.PAYMENT, "is not a charge"),
    ])
    def test_refuses_what_is_not_a_charge(self, amount, kind, message):
        customer = postpaid("100")
        with pytest.raises(ChargeError, match=message):
            charge(customer, amount, kind=kind)
        assert not Transaction.objects.exists()


class TestChargePostBatch:
    def lines(self, *amounts):
        return [ChargeLine(kind=TransactionKind.CALL, amount=D(a), occurred_at=NOW - dt.timedelta(hours=i),
                           reference=f"cdr-{i}") for i, a in enumerate(amounts)]

    def test_posts_all_lines_at_their_own_times_with_one_audit_event(self):
        customer = postpaid("100")
        rows = charge_post_batch(customer_id=customer.pk, lines=self.lines("1", "2.5", "0.000001"),
                                 batch_reference="cdr-file-1", actor=SYSTEM, at=NOW)
        customer.refresh_from_db()
        assert len(rows) == 3 and customer.expecting_invoice == D("-3.500001")
        assert sorted(r.occurred_at for r in rows)[0] == NOW - dt.timedelta(hours=2)
        assert AuditEvent.objects.filter(action="customers.charge.post_batch").count() == 1
        again = charge_post_batch(customer_id=customer.pk, lines=self.lines("1", "2.5", "0.000001"),
                                  batch_reference="cdr-file-1", actor=SYSTEM, at=NOW)
        assert [r.pk for r in again] == sorted(r.pk for r in rows)
        assert Transaction.objects.count() == 3

    def test_a_batch_beyond_usable_credits_posts_nothing(self):
        customer = postpaid("3")
        with pytest.raises(ChargeError, match="Not enough usable credits"):
            charge_post_batch(customer_id=customer.pk, lines=self.lines("1", "2.5"), batch_reference="b",
                              actor=SYSTEM, at=NOW)
        assert not Transaction.objects.exists()

    def test_a_bad_line_is_named(self):
        customer = postpaid("100")
        with pytest.raises(ChargeError, match="Line 2: amount must be more than zero"):
            charge_post_batch(customer_id=customer.pk, lines=self.lines("1", "0"), batch_reference="b",
                              actor=SYSTEM, at=NOW)


class TestAdjustmentPost:
    def test_reverses_a_charge_with_the_exact_opposite_once(self):
        customer = postpaid("100")
        wrong = charge(customer, "30")
        fix = adjustment_post(customer_id=customer.pk, reverses_id=wrong.pk, reason="Rated twice", actor=SYSTEM,
                              at=NOW)
        customer.refresh_from_db()
        assert fix.amount == D("30") and fix.kind == TransactionKind.ADJUSTMENT and fix.reverses_id == wrong.pk
        assert customer.expecting_invoice == D("0")
        with pytest.raises(ChargeError, match=f"already reversed by #{fix.pk}"):
            adjustment_post(customer_id=customer.pk, reverses_id=wrong.pk, reason="again", actor=SYSTEM, at=NOW)
        event = AuditEvent.objects.get(action="customers.adjustment.post")
        assert event.reason == "Rated twice"

    def test_a_billed_charge_is_reversed_on_the_unbilled_side_for_the_next_invoice(self):
        from tests.customers.test_figures import bill

        customer = postpaid("100", invoice_setup=InvoiceSetup.CONSOLIDATED)
        wrong = charge(customer, "30")
        bill(customer, [wrong])
        fix = adjustment_post(customer_id=customer.pk, reverses_id=wrong.pk, reason="Wrong rate", actor=SYSTEM,
                              at=NOW)
        customer.refresh_from_db()
        assert fix.bucket == Bucket.UNBILLED and customer.expecting_invoice == D("30")
        assert customer.current_balance == D("0")

    def test_a_payment_is_not_reversed_here(self):
        customer = postpaid("100")
        payment = ledger_post(customer, TransactionKind.PAYMENT, "50")
        with pytest.raises(ChargeError, match="corrected in the app that made it"):
            adjustment_post(customer_id=customer.pk, reverses_id=payment.pk, reason="x", actor=SYSTEM, at=NOW)

    def test_a_free_adjustment_needs_a_reason_and_an_amount(self):
        customer = postpaid("100")
        with pytest.raises(ChargeError, match="needs a reason"):
            adjustment_post(customer_id=customer.pk, amount=D("5"), reason=" ", actor=SYSTEM, at=NOW)
        with pytest.raises(ChargeError, match="Amount is required"):
            adjustment_post(customer_id=customer.pk, reason="goodwill", actor=SYSTEM, at=NOW)
        row = adjustment_post(customer_id=customer.pk, amount=D("-2.5"), reason="late fee", actor=SYSTEM, at=NOW)
        assert row.amount == D("-2.5")

    def test_a_partial_reversal_is_refused(self):
        customer = postpaid("100")
        wrong = charge(customer, "30")
        with pytest.raises(ChargeError, match="exact opposite"):
            adjustment_post(customer_id=customer.pk, reverses_id=wrong.pk, amount=D("10"), reason="x",
                            actor=SYSTEM, at=NOW)


class TestTheDatabaseKeepsTheLedgerImmutable:
    def test_update_and_delete_of_a_posted_entry_are_refused(self):
        customer = postpaid("100")
        row = charge(customer, "5")
        for sql in ("UPDATE customers_transaction SET amount = 0 WHERE id = %s",
                    "DELETE FROM customers_transaction WHERE id = %s"):
            with pytest.raises(Exception, match="immutable"), transaction.atomic(), connection.cursor() as c:
                c.execute(sql, [row.pk])
        assert Transaction.objects.get(pk=row.pk).amount == D("-5")
        assert ledger_mismatches() == []

    def test_an_entry_is_reversed_only_once_even_bypassing_the_service(self):
        customer = postpaid("100")
        row = charge(customer, "5")
        ledger_post(customer, TransactionKind.ADJUSTMENT, "5", reverses_id=row.pk)
        with pytest.raises(IntegrityError), transaction.atomic():
            ledger_post(customer, TransactionKind.ADJUSTMENT, "5", reverses_id=row.pk)
