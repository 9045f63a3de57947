"""Demo data for `manage.py seed_demo`: an API key for the demo platform, "telephony-platform", whose value
(api.devkey.DEMO_API_KEY) is known in development so bin/run can print a ready curl line. Not in production.
Idempotent: an existing key of that value is left alone."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from audit.actors import Actor

from .devkey import DEMO_API_KEY, DEMO_CLIENT
from .keys import hash_key
from .models import ALL_SCOPES, ApiKey
from .services import api_key_create


def seed(stdout) -> str:
    if settings.LEDGERDESK_ENV == "production":
        return "no demo API key in production"
    if ApiKey.objects.filter(key_hash=hash_key(DEMO_API_KEY)).exists():
        return "demo API key present"
    api_key_create(name=DEMO_CLIENT, scopes=ALL_SCOPES, actor=Actor.system("seed-demo"), at=timezone.now(),
                   plain_key=DEMO_API_KEY)
    return f"API key for {DEMO_CLIENT}"
