"""API keys.

- `ApiKey`: one secret of an API client (e.g. "telephony-platform"). Only its SHA-256 is stored, with the
  first characters for display; the plain key is shown once, when it is made. Revoked keys stay (the audit
  trail names them).

The idempotency records of the API's POSTs are common.models.IdempotencyRecord (shared with the pages' form
tokens; api/idempotency.py)."""

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
