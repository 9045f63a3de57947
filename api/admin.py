from django.contrib import admin
from django.utils import timezone

from common.admin import ReadOnlyAdmin, ServiceOnlyAdmin
from common.models import IdempotencyRecord

from .models import ApiKey
from .services import ApiKeyError, api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceOnlyAdmin):
    """View only; keys are made on Settings -> API keys or by `manage.py api_key_create` (shown once there)."""

    list_display = ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    exclude = ["key_hash"]
    actions = ["revoke"]
    service_errors = (ApiKeyError,)

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        self.run_service(request, queryset, lambda key, actor: api_key_revoke(
            key_id=key.pk, actor=actor, at=timezone.now(), reason="Revoked in the Django admin"), "keys revoked")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["client", "key", "status", "created_at"]
    search_fields = ["client", "key"]
