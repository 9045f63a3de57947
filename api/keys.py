"""The shape of an API key: `ld_live_` (production) or `ld_test_` (development, test) and 43 URL-safe
characters from `secrets` (256 bits). Stored as its SHA-256 only; its first PREFIX_LENGTH characters are kept
to recognise it on the staff page. A key that high in entropy needs no slow hash: SHA-256 of it cannot be
reversed, and a lookup by the hash is one index probe."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings

PREFIX_LENGTH = 12
MAX_KEY_LENGTH = 200  # longer Authorization values are refused before hashing


def key_prefix() -> str:
    return "ld_live_" if settings.LEDGERDESK_ENV == "production" else "ld_test_"


def new_plain_key() -> str:
    return key_prefix() + secrets.token_urlsafe(32)


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()
