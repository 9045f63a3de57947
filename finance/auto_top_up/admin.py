"""Payment settings and the auto top-up log in Django admin: read only (amounts are set on the Organization
management page, whose service checks and audits them; the job's rows are its record). What admin can do
goes through the service, as an action: turn auto top-up off."""

from django.contrib import admin

from common.admin import service_action

from ..admin import FinanceServiceAdmin
from ..models import AutoTopUp, AutoTopUpChunk, AutoTopUpDecision, AutoTopUpRun, PaymentSettings
from ..services.auto_top_up import payment_settings_update


@admin.register(PaymentSettings)
class PaymentSettingsAdmin(FinanceServiceAdmin):
    list_display = ("customer", "method", "trigger_amount", "limit_threshold", "auto_top_up_enabled", "updated_at",
                    "updated_by")
    list_filter = ("method", "auto_top_up_enabled")
    search_fields = ("customer__name", "customer__code")
    list_select_related = ("customer",)
    actions = [service_action(
        "turn_auto_top_up_off", "Turn auto top-up off for the selected customers",
        lambda ps, actor: payment_settings_update(
            customer_id=ps.customer_id, method=ps.method, trigger_amount=ps.trigger_amount,
            limit_threshold=ps.limit_threshold, auto_top_up_enabled=False, actor=actor),
        "auto top-up(s) turned off", auto_top_up_enabled=True)]


@admin.register(AutoTopUp)
class AutoTopUpAdmin(FinanceServiceAdmin):
    list_display = ("run_date", "customer", "method", "amount", "currency", "status", "failure_code", "invoice",
                    "card_payment", "transfer_entry", "created_at", "completed_at")
    list_filter = ("status", "method", "run_date")
    search_fields = ("customer__name", "customer__code", "invoice__number", "reason")
    list_select_related = ("customer", "invoice", "card_payment", "transfer_entry", "transfer_entry__wallet")
    date_hierarchy = "run_date"


@admin.register(AutoTopUpRun)
class AutoTopUpRunAdmin(FinanceServiceAdmin):
    list_display = ("id", "run_date", "trigger", "actor_label", "started_at", "finished_at", "customers_count",
                    "fired_count", "failed_count", "skipped_count")
    list_filter = ("trigger", "run_date")
    date_hierarchy = "run_date"


@admin.register(AutoTopUpDecision)
class AutoTopUpDecisionAdmin(FinanceServiceAdmin):
    list_display = ("run_date", "run", "customer", "decision", "method", "usable_credits", "limit_threshold",
                    "trigger_amount", "reason", "decided_at")
    list_filter = ("decision", "method", "run_date")
    search_fields = ("customer__name", "customer__code", "reason")
    list_select_related = ("customer", "run")
    date_hierarchy = "run_date"


@admin.register(AutoTopUpChunk)
class AutoTopUpChunkAdmin(FinanceServiceAdmin):
    list_display = ("run", "seq", "status", "attempts", "claimed_by", "claimed_at", "finished_at", "retry_at")
    list_filter = ("status",)
    list_select_related = ("run",)
