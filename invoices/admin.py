"""Invoices in Django admin: browse and search, every field read only (money is never edited in place and a
save() here would skip the services' locks, numbering and audit). What admin can do goes through the
services, as actions: send, mark as sent, void."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceOnlyAdmin, service_action

from .models import (
    BillingRun,
    BillingRunChunk,
    BillingRunFailure,
    CreditApplication,
    Invoice,
    InvoiceLine,
    InvoiceLineEntry,
    NumberSeries,
)
from .services import InvoiceError, invoice_mark_sent, invoice_send, invoice_void


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("position", "description", "kind", "quantity", "unit_price", "tax_rate", "amount", "tax_amount",
              "transaction")
    readonly_fields = fields


class CreditApplicationInline(ReadOnlyInline):
    model = CreditApplication
    fields = ("created_at", "source", "amount", "transaction")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(ServiceOnlyAdmin):
    list_display = ("number", "type", "status", "customer", "issue_date", "due_date", "currency", "total",
                    "amount_paid", "amount_credited", "provisioned_at")
    list_filter = ("type", "status", "currency", "issue_date")
    search_fields = ("number", "name", "customer__name", "customer__code", "source_key")
    list_select_related = ("customer",)
    date_hierarchy = "issue_date"
    inlines = [InvoiceLineInline, CreditApplicationInline]

    service_errors = (InvoiceError,)

    def service_label(self, obj) -> str:
        return obj.number

    actions = [
        service_action("send_invoices", "Send selected invoices by email (drafts are issued first)",
                       lambda inv, actor: invoice_send(invoice_id=inv.pk, actor=actor), "invoice(s) sent"),
        service_action("mark_invoices_sent", "Mark selected drafts as sent (no email)",
                       lambda inv, actor: invoice_mark_sent(invoice_id=inv.pk, actor=actor),
                       "invoice(s) marked as sent"),
        service_action("void_invoices", "Void selected invoices (drafts; top-ups awaiting payment, nothing allocated)",
                       lambda inv, actor: invoice_void(invoice_id=inv.pk, reason="Voided from Django admin",
                                                       actor=actor),
                       "invoice(s) voided"),
    ]


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "position", "description", "kind", "quantity", "unit_price", "tax_rate", "amount",
                    "tax_amount")
    search_fields = ("invoice__number", "description")
    list_select_related = ("invoice",)


@admin.register(InvoiceLineEntry)
class InvoiceLineEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "line", "transaction")
    search_fields = ("=transaction__id", "line__invoice__number")
    list_select_related = ("line", "transaction")
    raw_id_fields = ("line", "transaction")


@admin.register(CreditApplication)
class CreditApplicationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "invoice", "customer", "source", "amount")
    list_filter = ("source",)
    search_fields = ("invoice__number", "customer__name", "customer__code")
    list_select_related = ("invoice", "customer")


@admin.register(NumberSeries)
class NumberSeriesAdmin(ReadOnlyAdmin):
    list_display = ("key", "last_value")


# --- the monthly billing run's bookkeeping: written by the run only, read here --------------------------------
class BillingRunChunkInline(ReadOnlyInline):
    model = BillingRunChunk
    fields = ("seq", "status", "attempts", "claimed_at", "finished_at", "invoiced", "nothing_to_bill", "failed")
    readonly_fields = fields


class BillingRunFailureInline(ReadOnlyInline):
    model = BillingRunFailure
    fields = ("customer", "error", "attempts", "last_failed_at", "next_attempt_at", "resolved_at")
    readonly_fields = fields


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "period", "trigger", "started_by", "started_at", "finished_at", "customers_total",
                    "chunks_total")
    list_filter = ("trigger", "period")
    search_fields = ("=id", "started_by")
    date_hierarchy = "started_at"
    inlines = [BillingRunChunkInline, BillingRunFailureInline]


@admin.register(BillingRunChunk)
class BillingRunChunkAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "seq", "status", "attempts", "claimed_at", "finished_at", "invoiced", "failed")
    list_filter = ("status",)
    search_fields = ("=run__id",)
    list_select_related = ("run",)


@admin.register(BillingRunFailure)
class BillingRunFailureAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "customer", "attempts", "last_failed_at", "next_attempt_at", "resolved_at")
    list_filter = ("resolved_at",)
    search_fields = ("=run__id", "customer__code", "customer__name", "error")
    list_select_related = ("run", "customer")
