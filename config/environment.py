"""Which environment this process runs in, and what production must be given.

`LEDGERDESK_ENV` is `development` (bin/run), `test` (bin/test, the bench) or `production`, the default
whenever DJANGO_DEBUG is off. Development and test may fall back to the fake values below; production
never does: every variable in REQUIRED must be set (and not to its fake), or the settings refuse to load
and the process does not start. Plain Python: the settings import it before Django is set up."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT, TEST, PRODUCTION = "development", "test", "production"
ENVIRONMENTS = (DEVELOPMENT, TEST, PRODUCTION)

# Every variable a real deployment must set, with the fake that development and test use instead.
REQUIRED: dict[str, str] = {
    "DJANGO_SECRET_KEY": "dev-insecure-secret-key-change-me",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ledgerdesk",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "consolemail://",
    "DEFAULT_FROM_EMAIL": "billing@ledgerdesk.test",
    "STRIPE_SECRET_KEY": "sk_test_ledgerdesk",
    "STRIPE_WEBHOOK_SECRET": "whsec_ledgerdesk",
    # What every invoice PDF prints as the seller: the fakes are a made-up company and tax number.
    "LEDGERDESK_SELLER_NAME": "Ledgerdesk Telecom Pte. Ltd.",
    "LEDGERDESK_SELLER_ADDRESS": "1 Finance Way, #10-01, Singapore 018989",
    "LEDGERDESK_SELLER_TAX_ID": "GST Reg. 201912345K",
}


class MissingSettings(ImproperlyConfigured):
    """Production was started without a variable it needs (the message names each one)."""


def environment(debug: bool) -> str:
    name = os.environ.get("LEDGERDESK_ENV", "").strip() or (DEVELOPMENT if debug else PRODUCTION)
    if name not in ENVIRONMENTS:
        raise MissingSettings(f"LEDGERDESK_ENV must be one of {', '.join(ENVIRONMENTS)}, not {name!r}.")
    if name == PRODUCTION and debug:
        raise MissingSettings("DJANGO_DEBUG=1 is for development: production runs with DJANGO_DEBUG=0.")
    return name


def unset(name: str) -> bool:
    """True when `name` is missing, empty, or still the repository's fake."""
    value = os.environ.get(name, "").strip()
    return not value or value == REQUIRED[name]


def required(environment_name: str) -> dict[str, str]:
    """The value of every REQUIRED variable: the environment's, or (development and test only) its fake.
    In production, raise MissingSettings naming every variable that is unset or fake."""
    missing = [name for name in REQUIRED if unset(name)]
    if environment_name == PRODUCTION and missing:
        raise MissingSettings(
            "Ledgerdesk refuses to start in production (LEDGERDESK_ENV=production) without these environment "
            f"variables: {', '.join(missing)}. Set each one (see .env.example); only development and test "
            "use fake values.")
    return {name: REQUIRED[name] if name in missing else os.environ[name].strip() for name in REQUIRED}
