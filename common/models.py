"""`IdempotencyRecord`: the stored outcome of one POST, per client and key, inserted in the same transaction as
the POST's effect (common/idempotency.py). Two kinds of client use it:

- the platform's API (`api/idempotency.py`): client = the API client's name, key = its Idempotency-Key
  header, outcome = the reply's status and exact JSON text;
- the pages' forms that move money (`common/form_tokens.py`): client = `form:user:<id>`, key = the
  one-time token the form was rendered with, outcome = 303 and the URL of the result.

Purged after 24 h (api.tasks.purge_idempotency_records, hourly). Moved here from the api app (issue 23) so
that the finance, customers, invoices and portal pages share the one mechanism; the table was renamed, its
rows kept."""

from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """The outcome of one POST of a client with one key. Unique per (client, key): a second request with the key
    waits on the unique index for the first one's commit, then replays its outcome."""

    client = models.CharField(max_length=80)  # ApiKey.name, or form:user:<id>
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # sha256 of method, path and the canonical body
    status = models.PositiveSmallIntegerField(null=True)
    response = models.TextField(null=True)  # the API reply's exact JSON text, or the form's result URL
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]  # the purge

    def __str__(self) -> str:
        return f"{self.client} {self.key}"
