"""Invoices services: every write to invoices. Each is one transaction with one audit event (the two runs
are loops over such services, one short transaction per customer or subscription).

- lifecycle: invoice_create_top_up, invoice_create_purchase, invoice_send, invoice_mark_sent, invoice_void
- delivery: invoice_email_deliver (after commit: PDF + email, notification sent/failed)
- billing: bill_customer_period, monthly_billing_run
- renewals: subscription_renew, renew_due_subscriptions
- pdf: render_invoice_pdf (a read)
"""

from .billing import BillingError, BillingRunResult, bill_customer_period, monthly_billing_run
from .delivery import DeliveryError, invoice_email_deliver
from .lifecycle import (
    DuplicateInvoiceError,
    InvoiceError,
    PurchaseLine,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
    invoice_send,
    invoice_void,
    void_refusal,
)
from .pdf import render_invoice_pdf
from .renewals import RenewalError, RenewalRunResult, renew_due_subscriptions, subscription_renew

__all__ = [
    "BillingError", "BillingRunResult", "DeliveryError", "DuplicateInvoiceError", "InvoiceError", "PurchaseLine",
    "RenewalError", "RenewalRunResult", "bill_customer_period", "invoice_create_purchase", "invoice_create_top_up",
    "invoice_email_deliver", "invoice_mark_sent", "invoice_send", "invoice_void", "monthly_billing_run",
    "render_invoice_pdf", "renew_due_subscriptions", "subscription_renew", "void_refusal",
]
