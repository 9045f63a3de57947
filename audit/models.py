from django.db import models
from django.db.models import Q

from .actors import ActorKind


class AuditApp(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    INVOICES = "invoices", "Invoices"
    FINANCE = "finance", "Finance"
    PORTAL = "portal", "Portal"
    SETTINGS = "settings", "Settings"
    ACCESS = "access", "Access"


class AuditEvent(models.Model):
    """One append-only, hash-chained row per change.

    The database itself keeps the trail honest (migrations 0001 and 0002):
    - UPDATE and DELETE are refused by a trigger, raw SQL included;
    - an INSERT must extend the chain: its id is the chain head's id + 1 and its prev_hash the head's hash
      (so ids are gapless and the chain cannot fork); the head (AuditChainHead) moves with it;
    - each row's hash is sha256(prev_hash | canonical content), recomputed by `manage.py verify_audit`.
    Rows are written only by `audit.services.audit_record` (and the customers' PL/pgSQL reservation functions,
    with the same INSERT: the trigger assigns id, prev_hash and hash)."""

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
            models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_idx"),
        ]
        constraints = [
            # Each hash is followed at most once: a fork of the chain is impossible, whatever the code does.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_prev_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"

    @property
    def object_label(self) -> str:
        if self.object_repr:
            return self.object_repr
        if self.object_type:
            return f"{self.object_type} #{self.object_id}" if self.object_id else self.object_type
        return ""


class AuditChainHead(models.Model):
    """The chain's anchor: the id and hash of its last row, one row only (id = 1).

    Without it, deleting the newest rows would leave a shorter chain that still verifies. It moves only
    inside the insert trigger of AuditEvent (a trigger refuses any other UPDATE, and every DELETE);
    `verify_audit` checks that the last row of the walk is the head."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_id = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audit_chainhead_singleton")]

    def __str__(self) -> str:
        return f"audit chain head: event #{self.last_id} {self.last_hash[:12]}…"
