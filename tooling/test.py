"""`bin/test`: the whole pytest suite against PostgreSQL and Redis (embedded unless the URLs are set)."""

import os
import sys

from tooling.services import ensure_postgres, ensure_redis, say


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("LEDGERDESK_ENV", "test")  # production settings, but the fake secrets may stand in
    # A connection per request, as Django's test runner expects: a kept one (the production default) in a live
    # server's or worker's thread would outlive its test and block the test database's teardown.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
    say(f"database: {ensure_postgres('pg-test')}")
    say(f"redis:    {ensure_redis()}")
    import pytest

    return pytest.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
