"""`Authorization: Bearer <key>`: the key's hash looked up among the keys not revoked. Missing, unknown and
revoked keys get the same 401 (no hint which). A key without the endpoint's scope gets 403. Then the key's
request count (api.ratelimit). The key found is `request.auth`; its client name is the actor of the writes."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from ninja.security import HttpBearer

from audit.actors import Actor

from . import ratelimit, selectors
from .keys import MAX_KEY_LENGTH, hash_key
from .models import ApiKey
from .problems import Problem

LAST_USED_EVERY = dt.timedelta(seconds=60)  # last_used_at is written at most once a minute per key


class KeyAuth(HttpBearer):
    """The API key, holding `scope`."""

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def authenticate(self, request, token: str) -> ApiKey | None:
        if not token or len(token) > MAX_KEY_LENGTH or "\x00" in token:
            return None
        key_hash = hash_key(token)
        key = selectors.active_key(key_hash)
        if key is None:
            return None
        if self.scope not in key.scopes:
            raise Problem("forbidden", f"This API key does not have the {self.scope} scope. Ask the finance team "
                                       "for a key that has it (Settings -> API keys).")
        ratelimit.check(key_hash)
        _touch(key)
        return key


def _touch(key: ApiKey) -> None:
    """Record when the key was last used (not a change of anything a person decided: no audit event)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


def actor(request) -> Actor:
    """The actor of a write made with the request's key: the API client's name, the key's id, the request's
    IP and id."""
    key: ApiKey = request.auth
    return Actor.api(key.name, key.pk, request=request)
