"""Payments, allocations, top-ups, credit notes and withdrawals in Django admin: every field read only (money
is never edited in place, and a save() here would skip the services' locks and audit). What admin can do
goes through the services, as actions: delete payments, undo allocations, remove top-ups."""

from django.contrib import admin

from common.admin import ServiceOnlyAdmin, service_action

from .models import Allocation, CreditNote, Payment, TopUp, Withdrawal
from .services._common import FinanceError
from .services.allocation import allocation_reverse
from .services.payments import payment_delete
from .services.top_ups import top_up_remove


class FinanceServiceAdmin(ServiceOnlyAdmin):
    service_errors = (FinanceError,)


@admin.register(Payment)
class PaymentAdmin(FinanceServiceAdmin):
    list_display = ("id", "received_date", "customer", "amount", "currency", "amount_allocated", "amount_topped_up",
                    "status", "method", "reference", "assignment_changes")
    list_filter = ("status", "method", "currency", "received_date")
    search_fields = ("=id", "reference", "invoice_number", "remark", "customer__name", "customer__code")
    list_select_related = ("customer",)
    date_hierarchy = "received_date"
    actions = [service_action("delete_payments", "Delete selected payments (nothing allocated or topped up)",
                              lambda p, actor: payment_delete(payment=p, actor=actor,
                                                              reason="Deleted from Django admin"),
                              "payment(s) deleted")]


@admin.register(Allocation)
class AllocationAdmin(FinanceServiceAdmin):
    list_display = ("id", "created_at", "source", "payment", "invoice", "customer", "amount", "reversed_at")
    list_filter = ("source", "reversed_at")
    search_fields = ("=id", "=payment__id", "invoice__number", "customer__name", "customer__code")
    list_select_related = ("payment", "invoice", "customer")
    actions = [service_action("undo_allocations", "Undo selected allocations",
                              lambda a, actor: allocation_reverse(allocation=a, actor=actor,
                                                                  reason="Undone from Django admin"),
                              "allocation(s) undone", reversed_at__isnull=True)]


@admin.register(TopUp)
class TopUpAdmin(FinanceServiceAdmin):
    list_display = ("id", "created_at", "customer", "payment", "invoice", "amount", "posted_to_ledger", "removed_at")
    list_filter = ("posted_to_ledger", "removed_at")
    search_fields = ("=id", "=payment__id", "invoice__number", "customer__name", "customer__code")
    list_select_related = ("customer", "payment", "invoice")
    actions = [service_action("remove_top_ups", "Remove selected top-ups (credits unspent)",
                              lambda t, actor: top_up_remove(top_up=t, actor=actor, reason="Removed from Django admin"),
                              "top-up(s) removed", removed_at__isnull=True)]


@admin.register(CreditNote)
class CreditNoteAdmin(FinanceServiceAdmin):
    list_display = ("number", "issue_date", "customer", "invoice", "amount", "currency", "reason")
    search_fields = ("number", "reason", "customer__name", "customer__code", "invoice__number")
    list_select_related = ("customer", "invoice")
    date_hierarchy = "issue_date"


@admin.register(Withdrawal)
class WithdrawalAdmin(FinanceServiceAdmin):
    list_display = ("id", "paid_date", "customer", "amount", "currency", "method", "reference")
    list_filter = ("method",)
    search_fields = ("=id", "reference", "customer__name", "customer__code")
    list_select_related = ("customer",)
    date_hierarchy = "paid_date"


# Each concern registers its own models: payment settings and the auto top-up log, card payments and Stripe
# events.
from .auto_top_up import admin as auto_top_up_admin  # noqa: E402,F401
from .cards import admin as cards_admin  # noqa: E402,F401
