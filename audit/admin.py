"""The audit trail in Django admin: read only. No one adds, changes or deletes an event here (the database
refuses UPDATE and DELETE anyway); superusers and staff with audit.view_auditevent can browse it."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import AuditChainHead, AuditEvent


class AuditReadOnlyAdmin(ReadOnlyAdmin):
    """No actions (not even the bulk delete)."""

    def get_actions(self, request):
        return {}


@admin.register(AuditEvent)
class AuditEventAdmin(AuditReadOnlyAdmin):
    list_display = ("id", "occurred_at", "actor_kind", "actor_label", "app", "action", "object_type",
                    "object_id", "customer_id")
    list_filter = ("app", "actor_kind", "occurred_at")
    search_fields = ("actor_label", "action", "object_repr", "=object_id", "=request_id", "reason")
    show_full_result_count = False
    list_per_page = 50
    fields = ("occurred_at", "actor_kind", "actor_label", "actor_user_id", "app", "action", "object_type",
              "object_id", "object_repr", "customer_id", "before", "after", "reason", "request_id", "ip",
              "user_agent", "chain", "seq", "prev_hash", "hash")
    readonly_fields = fields


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(AuditReadOnlyAdmin):
    list_display = ("id", "last_seq", "last_id", "last_hash")
    readonly_fields = ("id", "last_seq", "last_id", "last_hash")
