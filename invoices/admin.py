"""Invoices in Django admin: browse and search, every field read only (money is never edited in place and a
save() here would skip the services' locks, numbering and audit). What admin can do goes through the
services, as actions: send, mark as sent, void."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceOnlyAdmin, service_action

from .models import CreditApplication, Invoice, InvoiceLine, InvoiceLineEntry, NumberSeries
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
