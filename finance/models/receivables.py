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
"""

from django.db import models

__all__ = ["ReceivableCustomer"]


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
