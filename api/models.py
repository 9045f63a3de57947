"""API keys and the idempotency records of the platform's POSTs.

- `ApiKey`: one secret of an API client (e.g. "telephony-platform"). Only its SHA-256 is stored, with the
  first characters for display; the plain key is shown once, when it is made. Revoked keys stay (the audit
  trail names them).
- `IdempotencyRecord`: the stored reply of one POST, per API client and Idempotency-Key (Stripe's
  semantics, api/idempotency.py). Inserted in the same transaction as the POST's effect; purged after 24 h."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class Scope(models.TextChoices):
    USAGE_WRITE = "usage:write", "usage:write - reserve, commit, release, post charges and batches"
    USAGE_READ = "usage:read", "usage:read - read a reservation"
    CUSTOMERS_READ = "customers:read", "customers:read - a customer's figures and transactions"


ALL_SCOPES = [s.value for s in Scope]


class ApiKey(models.Model):
    """A key an API client sends as `Authorization: Bearer <key>`."""

    name = models.CharField(max_length=80, help_text="The API client, e.g. telephony-platform; the actor of its writes.")
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex of the whole key
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), default=list)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="apikey_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The reply to one POST of an API client with one Idempotency-Key. Unique per (client, key): a second
    request with the key waits on the unique index for the first one's commit, then replays its reply."""

    client = models.CharField(max_length=80)  # ApiKey.name: keys are per API client, across its keys
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # sha256 of method, path and the canonical JSON body
    status = models.PositiveSmallIntegerField(null=True)
    response = models.TextField(null=True)  # the reply's exact JSON text, replayed byte for byte
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]  # the purge

    def __str__(self) -> str:
        return f"{self.client} {self.key}"
