"""Who is in today's aged receivables report, kept by the database.

A customer is in the report when it has an open invoice (sent or partially paid, not a top-up invoice) or an
assigned payment with cash left. Reading that from the open invoices means reading all of them and joining
every customer they belong to, to sort 25 of them by name (45 ms at 100,000 customers, bench issue 9). So
each such customer has one row here, with the counts that put it there and its name's sort key, and the
report reads a page of them by index.

The rows are maintained by triggers (finance migration 0007), in the same transaction as the invoice, payment
or customer change that moves them, whatever path made it: counts move by +1 / -1 under the row's lock (an
upsert), so concurrent changes add up; a row whose counts reach zero is deleted. The services lock the
customer before its invoices and payments, so two transactions never move one customer's row in opposite
orders. `finance_mismatches` recomputes every row from the invoices and payments (check_finance).

The report's totals per currency and bucket come from ReceivableAmount: what open invoices owe, per currency
and due date, as deltas (finance migration 0008). A due date is shared by every customer billed that day (a
billing run's 56,000 invoices share one), so a total kept in one row per due date, updated under its lock,
would queue every invoice of the run on it and could deadlock two allocations across invoices taken in
different due-date orders. Deltas are only inserted, never locked; the report sums them per due date, and
`finance_receivable_amounts_fold()` (a periodic task) folds them into one row per currency and due date.
"""

from django.db import models

from customers.money import MoneyField

__all__ = ["ReceivableAmount", "ReceivableCustomer"]


class ReceivableCustomer(models.Model):
    # No foreign key constraint: its check (deferred to COMMIT, a KEY SHARE lock on the customer) would queue
    # behind another transaction's lock of that customer while holding this one's audit chain head: a deadlock
    # (tests/finance/test_receivable_customers.py). Customers are never deleted; check_finance checks the rows.
    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.DO_NOTHING,
                                    related_name="+", db_constraint=False)
    currency = models.CharField(max_length=3)
    # lower(name) in byte order: the report's order (`ORDER BY lower(name) COLLATE "C", id`)
    sort_name = models.TextField(db_collation="C")
    open_invoices = models.PositiveIntegerField(help_text="Sent or partially paid purchase and monthly invoices.")
    cash_payments = models.PositiveIntegerField(help_text="Assigned payments not fully allocated or topped up.")

    class Meta:
        indexes = [models.Index(fields=["sort_name", "customer"], name="receivable_customer_order_idx")]
        verbose_name = "receivable customer"

    def __str__(self) -> str:
        return f"{self.sort_name}: {self.open_invoices} open invoices, {self.cash_payments} payments with cash"


class ReceivableAmount(models.Model):
    """A change of what open invoices owe in one currency and due date: the sum of every row of a currency and
    due date is what its open invoices still owe, and `invoices` how many there are."""

    currency = models.CharField(max_length=3)
    due_date = models.DateField()
    owed = MoneyField(help_text="Signed: more owed (an invoice sent) or less (paid, credited, voided).")
    invoices = models.IntegerField(help_text="Signed: +1 an invoice opened, -1 one closed, 0 an amount change.")

    class Meta:
        verbose_name = "receivable amount (delta)"
        verbose_name_plural = "receivable amounts (deltas)"

    def __str__(self) -> str:
        return f"{self.currency} due {self.due_date}: {self.owed:+} ({self.invoices:+} invoices)"
