"""A hypothesis state machine drives payments, assignments, allocations, reversals, top-ups, credit notes,
withdrawals and paying with credits against a plain-Python model of the rules (DESIGN.md and
services/*.py docstrings). After every step the customers' figures, the payments and the invoices equal the
model's, every refusal the model predicts is a FinanceError that changed nothing, and check_ledger /
check_finance find nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from customers.models import Customer, InvoiceSetup, TransactionKind
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import Allocation, Payment, PaymentStatus, TopUp
from finance.services._common import FinanceError
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import payment_assign, payment_record, payment_unassign
from finance.services.top_ups import payment_top_up, top_up_remove
from finance.services.withdrawals import withdrawal_record
from invoices.models import Invoice
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, TODAY, customer, monthly_invoice, purchase_invoice, top_up_invoice

ZERO = Decimal("0")
MAX_CHANGES = 5

amounts = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("120"), places=2),
    st.sampled_from([Decimal("0.000001"), Decimal("33.333333"), Decimal("65.979991")]),
)
bad_amounts = st.sampled_from([Decimal("0"), Decimal("-5"), Decimal("1.0000001")])


def status_for(total: Decimal, paid: Decimal, credited: Decimal) -> str:
    if credited >= total and paid == ZERO and total > ZERO:
        return "void"
    if paid + credited >= total:
        return "paid"
    if paid > ZERO or credited > ZERO:
        return "partially_paid"
    return "sent"


@dataclass
class MCustomer:
    pk: int
    setup: str
    due: Decimal = ZERO
    unbilled: Decimal = ZERO


@dataclass
class MPayment:
    pk: int
    amount: Decimal
    customer: int | None = None
    allocated: Decimal = ZERO
    topped: Decimal = ZERO
    changes: int = 0

    @property
    def unallocated(self) -> Decimal:
        return self.amount - self.allocated - self.topped


@dataclass
class MInvoice:
    pk: int
    customer: int
    top_up: bool
    total: Decimal
    paid: Decimal = ZERO
    credited: Decimal = ZERO
    provisioned: bool = False

    @property
    def status(self) -> str:
        return status_for(self.total, self.paid, self.credited)

    @property
    def open(self) -> bool:
        return self.status in ("sent", "partially_paid")

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.paid - self.credited if self.open else ZERO


@dataclass
class MAllocation:
    pk: int
    payment: int | None
    invoice: int
    amount: Decimal
    top_up: int | None = None
    from_unbilled: Decimal = ZERO
    active: bool = True


@dataclass
class MTopUp:
    pk: int
    payment: int
    invoice: int | None
    amount: Decimal
    posted: bool
    allocation: int | None = None
    active: bool = True


@dataclass
class Model:
    customers: dict[int, MCustomer] = field(default_factory=dict)
    payments: dict[int, MPayment] = field(default_factory=dict)
    invoices: dict[int, MInvoice] = field(default_factory=dict)
    allocations: dict[int, MAllocation] = field(default_factory=dict)
    top_ups: dict[int, MTopUp] = field(default_factory=dict)

    def unallocated_cash(self, cid: int) -> Decimal:
        return sum((p.unallocated for p in self.payments.values() if p.customer == cid), ZERO)

    def credit_balance(self, cid: int) -> Decimal:
        c = self.customers[cid]
        outstanding = sum((i.outstanding for i in self.invoices.values() if i.customer == cid and not i.top_up), ZERO)
        return c.unbilled + c.due + outstanding - self.unallocated_cash(cid)

    def free_credit(self, cid: int) -> Decimal:
        """Money in not yet used on an invoice (amount due + outstanding) that is not payment cash."""
        c = self.customers[cid]
        outstanding = sum((i.outstanding for i in self.invoices.values() if i.customer == cid and not i.top_up), ZERO)
        return c.due + outstanding - self.unallocated_cash(cid)


class FinanceMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.m = Model()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------------------------
    def _refused(self, call) -> None:
        before = self._snapshot()
        with pytest.raises(FinanceError):
            call()
        assert self._snapshot() == before, "a refusal changed something"

    def _snapshot(self):
        return (list(Customer.objects.filter(pk__in=self.m.customers).order_by("pk").values_list(
                    "amount_due", "amount_unbilled")),
                list(Payment.objects.order_by("pk").values_list("customer_id", "amount_allocated", "amount_topped_up",
                                                                "assignment_changes")),
                list(Invoice.objects.order_by("pk").values_list("amount_paid", "amount_credited", "status")),
                Allocation.objects.filter(reversed_at__isnull=True).count(),
                TopUp.objects.filter(removed_at__isnull=True).count())

    def _add_invoice(self, cid: int, kind: str, total: Decimal) -> None:
        cust = Customer.objects.get(pk=cid)
        if kind == "top_up":
            inv = top_up_invoice(cust, total)
        elif kind == "purchase" and cust.invoice_setup == InvoiceSetup.INDIVIDUAL:
            inv = purchase_invoice(cust, total)
        else:
            inv = monthly_invoice(cust, total)
        self.m.invoices[inv.pk] = MInvoice(pk=inv.pk, customer=cid, top_up=kind == "top_up", total=total)
        if kind != "top_up":
            self.m.customers[cid].due -= total

    def _apply_top_up_ledger(self, cid: int, amount: Decimal) -> bool:
        c = self.m.customers[cid]
        if c.setup == InvoiceSetup.INDIVIDUAL:
            return False
        c.due -= amount
        c.unbilled += amount
        return True

    def _remove_top_up(self, t: MTopUp) -> None:
        t.active = False
        if t.posted:
            c = self.m.customers[self.m.payments[t.payment].customer]
            c.due += t.amount
            c.unbilled -= t.amount
        pay = self.m.payments[t.payment]
        if t.invoice is not None:
            inv = self.m.invoices[t.invoice]
            inv.paid -= t.amount
            inv.provisioned = False
            self.m.allocations[t.allocation].active = False
            pay.allocated -= t.amount
        else:
            pay.topped -= t.amount

    # --- set-up --------------------------------------------------------------------------------------------
    @initialize()
    def customers_and_invoices(self):
        for setup in (InvoiceSetup.INDIVIDUAL, InvoiceSetup.CONSOLIDATED):
            cust = customer(setup)
            self.m.customers[cust.pk] = MCustomer(pk=cust.pk, setup=setup)
            self._add_invoice(cust.pk, "purchase", Decimal("80"))
            self._add_invoice(cust.pk, "top_up", Decimal("50"))
            pay = payment_record(customer=cust, amount=Decimal("300"), received_date=TODAY, method="cheque",
                                 actor=SYSTEM)
            self.m.payments[pay.pk] = MPayment(pk=pay.pk, amount=Decimal("300"), customer=cust.pk, changes=1)
            self.m.customers[cust.pk].due += Decimal("300")

    # --- rules ---------------------------------------------------------------------------------------------
    @rule(data=st.data(), amount=amounts, assigned=st.booleans())
    def record(self, data, amount, assigned):
        cid = data.draw(st.sampled_from(sorted(self.m.customers))) if assigned else None
        pay = payment_record(customer=Customer(pk=cid) if cid else None, amount=amount, received_date=TODAY,
                             method="bank_transfer", actor=SYSTEM)
        self.m.payments[pay.pk] = MPayment(pk=pay.pk, amount=amount, customer=cid, changes=1 if cid else 0)
        if cid:
            self.m.customers[cid].due += amount

    @rule(data=st.data(), kind=st.sampled_from(["purchase", "top_up"]),
          total=st.decimals(min_value=Decimal("10"), max_value=Decimal("150"), places=2))
    def new_invoice(self, data, kind, total):
        if len(self.m.invoices) < 12:
            self._add_invoice(data.draw(st.sampled_from(sorted(self.m.customers))), kind, total)

    @rule(data=st.data())
    def assign(self, data):
        if not self.m.payments:
            return
        p = self.m.payments[data.draw(st.sampled_from(sorted(self.m.payments)))]
        cid = data.draw(st.sampled_from(sorted(self.m.customers)))
        call = lambda: payment_assign(payment=Payment(pk=p.pk), customer=Customer(pk=cid), actor=SYSTEM)  # noqa: E731
        if p.customer is not None or p.changes >= MAX_CHANGES:
            return self._refused(call)
        call()
        p.customer, p.changes = cid, p.changes + 1
        self.m.customers[cid].due += p.amount

    @rule(data=st.data())
    def unassign(self, data):
        if not self.m.payments:
            return
        p = self.m.payments[data.draw(st.sampled_from(sorted(self.m.payments)))]
        call = lambda: payment_unassign(payment=Payment(pk=p.pk), actor=SYSTEM)  # noqa: E731
        if p.customer is None or p.allocated or p.topped or p.changes >= MAX_CHANGES:
            return self._refused(call)
        call()
        self.m.customers[p.customer].due -= p.amount
        p.customer, p.changes = None, p.changes + 1

    @rule(data=st.data(), amount=amounts, full=st.sampled_from([True, True, True, False]), fitting=st.booleans())
    def allocate(self, data, amount, full, fitting):
        inv = self.m.invoices[data.draw(st.sampled_from(sorted(self.m.invoices)))]
        fits = sorted(pk for pk, p in self.m.payments.items() if p.customer in (None, inv.customer))
        p = self.m.payments[data.draw(st.sampled_from(fits if fitting and fits else sorted(self.m.payments)))]
        if full:
            amount = inv.outstanding if inv.top_up else min(inv.outstanding, p.unallocated)
        call = lambda: payment_allocate(payment=Payment(pk=p.pk), lines=[(inv.pk, amount)], actor=SYSTEM)  # noqa: E731
        refused = (
            amount <= ZERO
            or (p.customer is not None and p.customer != inv.customer)
            or (p.customer is None and p.changes >= MAX_CHANGES)
            or not inv.open
            or (inv.top_up and (inv.provisioned or inv.status != "sent" or amount != inv.outstanding))
            or (not inv.top_up and amount > inv.outstanding)
            or amount > p.unallocated
        )
        if refused:
            return self._refused(call)
        (row,) = call()
        cid = inv.customer
        if p.customer is None:
            p.customer, p.changes = cid, p.changes + 1
            self.m.customers[cid].due += p.amount
        p.allocated += amount
        inv.paid += amount
        alloc = MAllocation(pk=row.pk, payment=p.pk, invoice=inv.pk, amount=amount)
        self.m.allocations[row.pk] = alloc
        if inv.top_up:
            inv.provisioned = True
            db_top_up = TopUp.objects.get(allocation_id=row.pk)
            posted = self._apply_top_up_ledger(cid, amount)
            self.m.top_ups[db_top_up.pk] = MTopUp(pk=db_top_up.pk, payment=p.pk, invoice=inv.pk, amount=amount,
                                                  posted=posted, allocation=row.pk)
            alloc.top_up = db_top_up.pk

    @rule(data=st.data())
    def reverse(self, data):
        if not self.m.allocations:
            return
        a = self.m.allocations[data.draw(st.sampled_from(sorted(self.m.allocations)))]
        inv = self.m.invoices[a.invoice]
        call = lambda: allocation_reverse(allocation=Allocation.objects.get(pk=a.pk), actor=SYSTEM)  # noqa: E731
        if not a.active or (a.top_up is not None and self.m.credit_balance(inv.customer) < a.amount):
            return self._refused(call)
        call()
        if a.top_up is not None:
            return self._remove_top_up(self.m.top_ups[a.top_up])
        a.active = False
        inv.paid -= a.amount
        if a.payment is not None:
            self.m.payments[a.payment].allocated -= a.amount
        elif a.from_unbilled:
            c = self.m.customers[inv.customer]
            c.unbilled += a.from_unbilled
            c.due -= a.from_unbilled

    @rule(data=st.data(), amount=st.one_of(amounts, bad_amounts), share=st.sampled_from([None, 1, 2, 3]))
    def top_up(self, data, amount, share):
        usable = sorted(pk for pk, p in self.m.payments.items() if p.customer is not None and p.unallocated > 0)
        p = self.m.payments[data.draw(st.sampled_from(usable or sorted(self.m.payments)))]
        if share and p.unallocated > 0:
            amount = (p.unallocated / share).quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
        call = lambda: payment_top_up(payment=Payment(pk=p.pk), amount=amount, actor=SYSTEM)  # noqa: E731
        if p.customer is None or amount <= ZERO or amount.as_tuple().exponent < -6 or amount > p.unallocated:
            return self._refused(call)
        row = call()
        p.topped += amount
        posted = self._apply_top_up_ledger(p.customer, amount)
        self.m.top_ups[row.pk] = MTopUp(pk=row.pk, payment=p.pk, invoice=None, amount=amount, posted=posted)

    @rule(data=st.data())
    def remove_top_up(self, data):
        if not self.m.top_ups:
            return
        t = self.m.top_ups[data.draw(st.sampled_from(sorted(self.m.top_ups)))]
        cid = self.m.payments[t.payment].customer
        call = lambda: top_up_remove(top_up=TopUp.objects.get(pk=t.pk), actor=SYSTEM)  # noqa: E731
        if not t.active or self.m.credit_balance(cid) < t.amount:
            return self._refused(call)
        call()
        self._remove_top_up(t)

    @rule(data=st.data(), amount=st.one_of(amounts, bad_amounts), against=st.booleans(), own=st.booleans())
    def credit_note(self, data, amount, against, own):
        cid = data.draw(st.sampled_from(sorted(self.m.customers)))
        mine = sorted(pk for pk, i in self.m.invoices.items() if i.customer == cid and i.open and not i.top_up)
        pool = mine if own and mine else sorted(self.m.invoices)
        inv = self.m.invoices[data.draw(st.sampled_from(pool))] if against else None
        if inv is not None and own and inv.open and amount > inv.outstanding:
            amount = inv.outstanding
        call = lambda: credit_note_issue(customer=Customer(pk=cid), amount=amount, reason="model",  # noqa: E731
                                         invoice=Invoice(pk=inv.pk) if inv else None, actor=SYSTEM)
        bad = amount <= ZERO or amount.as_tuple().exponent < -6
        if inv is not None:
            bad = bad or inv.customer != cid or inv.top_up or not inv.open or amount > inv.outstanding
        if bad:
            return self._refused(call)
        call()
        self.m.customers[cid].due += amount
        if inv is not None:
            inv.credited += amount

    @rule(data=st.data(), amount=st.one_of(amounts, bad_amounts), share=st.sampled_from([None, 1, 2]))
    def withdraw(self, data, amount, share):
        cid = data.draw(st.sampled_from(sorted(self.m.customers)))
        c = self.m.customers[cid]
        withdrawable = max(ZERO, min(c.due, self.m.credit_balance(cid), self.m.free_credit(cid)))
        if share and withdrawable > 0:
            amount = (withdrawable / share).quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
        call = lambda: withdrawal_record(customer=Customer(pk=cid), amount=amount, method="cash",  # noqa: E731
                                         actor=SYSTEM)
        if amount <= ZERO or amount.as_tuple().exponent < -6 or amount > withdrawable:
            return self._refused(call)
        call()
        c.due -= amount

    @rule(data=st.data(), amount=amounts, whole=st.booleans())
    def pay_with_credits(self, data, amount, whole):
        inv = self.m.invoices[data.draw(st.sampled_from(sorted(self.m.invoices)))]
        if whole and inv.outstanding > 0:
            amount = inv.outstanding
        cid = inv.customer
        c = self.m.customers[cid]
        cash = self.m.unallocated_cash(cid)
        from_payments = min(amount, cash)
        from_credit = amount - from_payments
        call = lambda: invoice_pay_with_credits(invoice=Invoice(pk=inv.pk), amount=amount, actor=SYSTEM)  # noqa: E731
        if inv.top_up or not inv.open or amount > inv.outstanding or from_credit > max(self.m.credit_balance(cid), ZERO):
            return self._refused(call)
        rows = call()
        left = from_payments
        for p in sorted((p for p in self.m.payments.values() if p.customer == cid), key=lambda p: p.pk):
            take = min(left, p.unallocated)
            if take > ZERO:
                p.allocated += take
                left -= take
        for row in rows:
            self.m.allocations[row.pk] = MAllocation(pk=row.pk, payment=row.payment_id, invoice=inv.pk,
                                                     amount=row.amount)
            if row.payment_id is None:  # unbilled credit first, moved to the billed side (any setup)
                moved = min(row.amount, max(c.unbilled, ZERO))
                self.m.allocations[row.pk].from_unbilled = moved
                c.unbilled -= moved
                c.due += moved
        inv.paid += amount

    @rule(data=st.data(), amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("30"), places=2))
    def spend(self, data, amount):
        """A call charged to the account (usage spends credits), posted as the rating would."""
        cid = data.draw(st.sampled_from(sorted(self.m.customers)))
        ledger_post(Customer.objects.get(pk=cid), TransactionKind.CALL, -amount)
        self.m.customers[cid].unbilled -= amount

    # --- invariants ----------------------------------------------------------------------------------------
    @invariant()
    def figures_equal_the_model(self):
        for c in Customer.objects.filter(pk__in=self.m.customers):
            mc = self.m.customers[c.pk]
            assert (c.amount_due, c.amount_unbilled) == (mc.due, mc.unbilled), c
        for p in Payment.objects.filter(pk__in=self.m.payments):
            mp = self.m.payments[p.pk]
            assert (p.customer_id, p.amount_allocated, p.amount_topped_up, p.assignment_changes) == (
                mp.customer, mp.allocated, mp.topped, mp.changes), p
            expected = (PaymentStatus.UNASSIGNED if mp.customer is None else PaymentStatus.UNALLOCATED
                        if not (mp.allocated or mp.topped) else PaymentStatus.ALLOCATED if mp.unallocated == 0
                        else PaymentStatus.PARTIALLY_ALLOCATED)
            assert p.status == expected
        for i in Invoice.objects.filter(pk__in=self.m.invoices):
            mi = self.m.invoices[i.pk]
            assert (i.amount_paid, i.amount_credited, i.status, i.provisioned_at is not None) == (
                mi.paid, mi.credited, mi.status, mi.provisioned), i.number

    @invariant()
    def ledger_and_finance_are_consistent(self):
        assert ledger_mismatches() == []
        assert finance_mismatches() == []


TestFinanceModel = FinanceMachine.TestCase
TestFinanceModel.settings = settings(max_examples=20, stateful_step_count=30, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(autouse=True)
def _db(db):
    """Each example runs in its own rolled-back transaction inside the test's (FinanceMachine.__init__)."""
