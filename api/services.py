"""API keys: made (the plain key returned once, only its hash kept) and revoked, each with one audit event
(app "settings": keys are made on Settings -> API keys; the actor is the staff user or the command)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record

from .keys import PREFIX_LENGTH, hash_key, new_plain_key
from .models import ALL_SCOPES, ApiKey

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}\Z")


class ApiKeyError(ValueError):
    """A key that cannot be made or revoked; the message says why."""


def _scopes_or_error(scopes: Iterable[str]) -> list[str]:
    chosen = [s.strip() for s in scopes if s and s.strip()]
    unknown = [s for s in chosen if s not in ALL_SCOPES]
    if unknown:
        raise ApiKeyError(f"Unknown scope {unknown[0]!r}. The scopes are: {', '.join(ALL_SCOPES)}.")
    if not chosen:
        raise ApiKeyError("Choose at least one scope.")
    return [s for s in ALL_SCOPES if s in chosen]


@transaction.atomic
def api_key_create(*, name: str, scopes: Iterable[str], actor: Actor, at: dt.datetime,
                   plain_key: str | None = None) -> tuple[ApiKey, str]:
    """A new key for the API client `name` (lower-case letters, digits, '.', '_', '-'): the row and the plain
    key, which is never stored and cannot be shown again. `plain_key` is for the development demo only (a key
    whose value is known); production keys come from `secrets`."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise ApiKeyError("The client name is 1 to 80 lower-case letters, digits, '.', '_' or '-', "
                          "such as telephony-platform.")
    scopes = _scopes_or_error(scopes)
    plain = plain_key or new_plain_key()
    if len(plain) < 40:
        raise ApiKeyError("An API key has at least 40 characters.")
    key = ApiKey.objects.create(name=name, prefix=plain[:PREFIX_LENGTH], key_hash=hash_key(plain), scopes=scopes,
                                created_at=at, created_by=actor.label[:150])
    audit_record(actor=actor, action="settings.api_key.create", app="settings", obj=key,
                 after={"name": name, "prefix": key.prefix, "scopes": scopes}, at=at)
    return key, plain


@transaction.atomic
def api_key_revoke(*, key_id: int, actor: Actor, at: dt.datetime, reason: str = "") -> ApiKey:
    """Revoke a key: every request with it gets 401 from now on. Revoking twice is refused."""
    key = ApiKey.objects.select_for_update(no_key=True).filter(pk=key_id).first()
    if key is None:
        raise ApiKeyError(f"There is no API key #{key_id}.")
    if key.revoked_at is not None:
        raise ApiKeyError(f"The key {key.prefix}… of {key.name} was already revoked.")
    key.revoked_at = at
    key.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="settings.api_key.revoke", app="settings", obj=key,
                 before={"revoked_at": None}, after={"revoked_at": at, "name": key.name, "prefix": key.prefix},
                 reason=reason, at=at)
    return key
