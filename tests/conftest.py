"""Shared fixtures: staff users and clients, a real Celery worker on the real Redis, a real browser.

bin/test sets DATABASE_URL and REDIS_URL (embedded servers unless given) before pytest starts."""

from __future__ import annotations

import os

import pytest

from tests.stripe_fixtures import fake_stripe, fake_stripe_server  # noqa: F401 - the fake Stripe for card tests

# Playwright's sync API keeps an event loop in the test thread; Django's ORM would refuse to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _settings_for_tests(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # each test's audit seals anchor the chain heads in its own file (the database is emptied between tests)
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "audit-anchor.jsonl")
    # Hashing test passwords with PBKDF2 costs ~1 s a user on this machine; nothing here tests its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_ENABLED = True
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def finance_user(db):
    from tests.factories import finance_user

    return finance_user(username="finance")


@pytest.fixture
def viewer_user(db):
    from tests.factories import viewer_user

    return viewer_user(username="viewer")


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user, backend="django.contrib.auth.backends.ModelBackend")
    return client


# --- Celery: one real in-process worker against the real Redis -----------------------------------------
@pytest.fixture
def celery_worker(transactional_db, django_db_blocker):
    """A real worker (pool solo) on the real Redis, for this test only: every test that needs a worker takes
    this fixture.

    Started per test, after purging the queue, and stopped at the end: a worker left running for the
    session would pick up tasks that other tests queue (invoice emails after commit, ...) and touch the
    database while a later test flushes it. Before it stops, it runs what the test left queued, and what
    those tasks queued in turn (a ping, twice: one task at a time, in order, so each comes back last)."""
    from celery.contrib.testing.tasks import ping
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    with django_db_blocker.unblock(), start_worker(app, pool="solo", perform_ping_check=False,
                                                   shutdown_timeout=30) as worker:
        yield worker
        for _ in range(2):
            assert ping.delay().get(timeout=60) == "pong"
    app.control.purge()


# --- Browser: Debian's Chromium through Playwright (never a downloaded browser) --------------------------
@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (bin/test does as root).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.console_errors = errors
    yield pg
    context.close()


def sign_in(page, username: str, password: str, path: str = "/login/"):
    page.goto(path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def staff_page(page, transactional_db):
    """A browser signed in as a Finance staff user."""
    from tests.factories import PASSWORD, finance_user

    finance_user(username="finance")
    sign_in(page, "finance", PASSWORD)
    page.wait_for_url("**/")
    return page
