"""Audit walk scenarios for the API keys services (api/services.py)."""

from django.utils import timezone

from api.services import api_key_create, api_key_revoke
from tests.customers.factories import SYSTEM


def create():
    return lambda: api_key_create(name="telephony-platform", scopes=["usage:write"], actor=SYSTEM, at=timezone.now())


def revoke():
    key, _ = api_key_create(name="telephony-platform", scopes=["usage:write"], actor=SYSTEM, at=timezone.now())
    return lambda: api_key_revoke(key_id=key.pk, actor=SYSTEM, at=timezone.now(), reason="walk")


SCENARIOS = {
    "api.services.api_key_create": create,
    "api.services.api_key_revoke": revoke,
}
