"""How many payments the payment list has, kept by the database.

The payment list shows how many payments match its filters. Counting them is a pass over every matching
index entry: 10 ms for the unfiltered list at 300,000 payments, 1.4 ms for a status, a method and four months
(bench issue 9). Most of the list's filters are a payment's status, method and received date, so the
database keeps how many payments there are per status, method and day, and a count for those filters sums a
few hundred rows instead (`finance.selectors.payment_count`); a search or a customer filter still counts the
rows.

The rows are deltas (+1 / -1), inserted by triggers on finance_payment in the same transaction as the
payment's change (finance migration 0009), never updated, so two payments recorded or allocated at once never
queue on a shared row; `finance_payment_counts_fold()` (a periodic task) folds them into one row per status,
method and day. `finance_mismatches` recomputes them from the payments (check_finance).
"""

from django.db import models

__all__ = ["PaymentCount"]


class PaymentCount(models.Model):
    """A change of how many payments have one status, method and received date: the sum of a key's rows is
    how many payments have it."""

    status = models.CharField(max_length=24)
    method = models.CharField(max_length=24)
    received_date = models.DateField()
    payments = models.IntegerField(help_text="Signed: +1 a payment came to this status, method and date, -1 left.")

    class Meta:
        indexes = [models.Index(fields=["status", "method", "received_date"], name="payment_count_key_idx")]
        verbose_name = "payment count (delta)"

    def __str__(self) -> str:
        return f"{self.status} {self.method} {self.received_date}: {self.payments:+}"
