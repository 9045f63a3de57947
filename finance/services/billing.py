"""The monthly billing run as finance starts it: with the customers' unallocated payment cash.

The run itself is invoices' (invoices.services.billing): it bills the month and applies the money no invoice
has used yet. Part of that money is payments' cash, which only finance can see and allocate, and invoices
cannot import finance. So the run takes the cash source as a required argument, and every production path
that starts or resumes a run lives here in finance and passes PAYMENT_CASH: the beat and chunk tasks
(finance.tasks.billing_run_start, bill_billing_chunk, billing_run_resume) and `manage.py billing_run`.
Nothing is registered at start-up, and no setting names finance's code for invoices to import."""

from __future__ import annotations

from invoices.services.billing import CashSource

from ..selectors import unallocated_cash
from .allocation import allocate_cash_locked

PAYMENT_CASH = CashSource(available=unallocated_cash, allocate=allocate_cash_locked)
