from django.db import models

from .actors import ActorKind


class AuditApp(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    INVOICES = "invoices", "Invoices"
    FINANCE = "finance", "Finance"
    PORTAL = "portal", "Portal"
    SETTINGS = "settings", "Settings"
    ACCESS = "access", "Access"


class AuditEvent(models.Model):
    """One append-only, hash-chained row per change. The database refuses UPDATE and DELETE (trigger in
    migration 0002); each row's hash covers the previous row's hash and its own canonical content."""

    occurred_at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.CHOICES)
    actor_label = models.CharField(max_length=150)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    app = models.CharField(max_length=16, choices=AuditApp.choices)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # The customer the change concerns (no FK: audit sits below every app and outlives their rows).
    customer_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["customer_id", "-id"], name="audit_customer_idx"),
            models.Index(fields=["app", "-id"], name="audit_app_idx"),
            models.Index(fields=["actor_label", "-id"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"
