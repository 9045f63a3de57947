from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from .actors import ActorKind

# The trail is AUDIT_CHAINS independent hash chains (audit migration 0004): an event about customer c extends
# chain c % AUDIT_CHAINS, an event about no customer extends chain 0. Appends to different chains never wait
# for one another; each chain is gapless, linked and anchored by its own head. The same number is in the SQL
# of the insert trigger; changing it needs a migration.
AUDIT_CHAINS = 64


class AuditApp(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    INVOICES = "invoices", "Invoices"
    FINANCE = "finance", "Finance"
    PORTAL = "portal", "Portal"
    BANKING = "banking", "Banking"
    SETTINGS = "settings", "Settings"
    ACCESS = "access", "Access"


class AuditEvent(models.Model):
    """One append-only, hash-chained row per change.

    The database itself keeps the trail honest (migrations 0001 to 0007):
    - an INSERT appends the event unsealed, taking no lock: the trigger puts it in its chain (`chain`: the
      customer's id % AUDIT_CHAINS, 0 without a customer) and leaves seq, prev_hash and hash NULL;
    - audit_seal() (the beat task audit.tasks.seal_audit_trail, every 30 s) seals the committed unsealed events
      in id order: seq = that chain's head seq + 1, prev_hash = the head's hash (so each chain is gapless and
      cannot fork); the head (AuditChainHead) moves with it, and is anchored outside the database;
    - DELETE, and every UPDATE but that one sealing, are refused by a trigger, raw SQL included;
    - each sealed row's hash is sha256(prev_hash | canonical content), recomputed by `manage.py verify_audit`.
    The id is only the row's identity (a sequence: a rolled-back change leaves an id unused, never a hole in a
    chain). Rows are written only by `audit.services.audit_record` (and the customers' PL/pgSQL reservation
    functions, with the same INSERT)."""

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
    chain = models.PositiveSmallIntegerField()
    # NULL while the event is unsealed: audit_seal() (the beat task audit.tasks.seal_audit_trail) gives them.
    seq = models.BigIntegerField(null=True, blank=True, help_text="Position in its chain, from 1.")
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)
    # When the row was written (the insert trigger's clock; not hashed): the age of an unsealed event.
    recorded_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["customer_id", "-id"], name="audit_customer_idx"),
            models.Index(fields=["app", "-id"], name="audit_app_idx"),
            models.Index(fields=["actor_label", "-id"], name="audit_actor_idx"),
            models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_idx"),
            # the sealer's and verify_audit's way to the unsealed events (few: sealed within a minute)
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="audit_unsealed_idx"),
        ]
        constraints = [
            # One event per position of a chain: a fork is impossible, whatever the code does (and the index
            # verify_audit walks each chain by).
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique"),
            models.CheckConstraint(condition=Q(chain__gte=0, chain__lt=AUDIT_CHAINS), name="audit_chain_range"),
            # sealed whole or not at all
            models.CheckConstraint(
                condition=Q(seq__isnull=True, prev_hash__isnull=True, hash__isnull=True)
                | Q(seq__isnull=False, prev_hash__isnull=False, hash__isnull=False),
                name="audit_sealed_whole"),
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
    """A chain's anchor: the seq, id and hash of its last event, one row per chain (id = the chain's number).

    Without it, deleting the newest rows would leave a shorter chain that still verifies. It moves only
    inside the insert trigger of AuditEvent (a trigger refuses any other UPDATE, and every DELETE);
    `verify_audit` checks that each chain's walk ends at its head."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    last_id = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id__gte=0, id__lt=AUDIT_CHAINS),
                                              name="audit_chainhead_range")]

    def __str__(self) -> str:
        return f"audit chain {self.id} head: #{self.last_seq} (event {self.last_id}) {self.last_hash[:12]}…"
