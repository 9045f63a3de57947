"""Production fails closed: every secret and server address comes from the environment, or the process does
not start and says which variable is missing; `check --deploy` names each one still at its fake value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from config.environment import REQUIRED

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-real-production-secret-key-with-enough-entropy-1234567890",
    "DJANGO_ALLOWED_HOSTS": "ledgerdesk.example.com",
    "DATABASE_URL": "postgres://ledgerdesk:secret@db.internal:5432/ledgerdesk",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "EMAIL_URL": "smtp+tls://billing%40example.com:secret@smtp.example.com:587",
    "DEFAULT_FROM_EMAIL": "billing@example.com",
    "STRIPE_SECRET_KEY": "sk_live_123",
    "STRIPE_WEBHOOK_SECRET": "whsec_live_123",
    "LEDGERDESK_SELLER_NAME": "Example Telecom Pte. Ltd.",
    "LEDGERDESK_SELLER_ADDRESS": "2 Example Road, Singapore 000000",
    "LEDGERDESK_SELLER_TAX_ID": "GST Reg. 000000000X",
}


def start_django(env: dict[str, str]) -> subprocess.CompletedProcess:
    """A fresh process loading the settings and Django, with only `env` (and PATH) in its environment."""
    clean = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    code = "import django; django.setup(); from django.conf import settings; print('started', settings.LEDGERDESK_ENV)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=60)


def test_every_required_variable_is_in_the_production_example():
    assert set(PRODUCTION) == set(REQUIRED)
    example = (ROOT / ".env.example").read_text()
    for name in REQUIRED:
        assert f"\n{name}=" in example, name


def test_production_starts_with_every_variable_set():
    done = start_django({**PRODUCTION, "DJANGO_DEBUG": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "started production"


@pytest.mark.parametrize("name", list(REQUIRED))
def test_production_refuses_to_start_without_a_variable_and_names_it(name):
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    done = start_django({**env, "DJANGO_DEBUG": "0"})  # LEDGERDESK_ENV unset: production, as DEBUG is off
    assert done.returncode != 0
    assert "refuses to start in production" in done.stderr
    refused = done.stderr.split("without these environment variables:")[1].split(".")[0]
    assert [n.strip() for n in refused.split(",")] == [name]


def test_production_refuses_a_variable_left_at_the_repository_fake():
    done = start_django({**PRODUCTION, "STRIPE_WEBHOOK_SECRET": REQUIRED["STRIPE_WEBHOOK_SECRET"],
                         "LEDGERDESK_ENV": "production"})
    assert done.returncode != 0
    assert "without these environment variables: STRIPE_WEBHOOK_SECRET." in done.stderr


def test_production_refuses_debug():
    done = start_django({**PRODUCTION, "DJANGO_DEBUG": "1", "LEDGERDESK_ENV": "production"})
    assert done.returncode != 0 and "DJANGO_DEBUG=1 is for development" in done.stderr


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_test_start_on_the_fakes(environment):
    done = start_django({"DJANGO_DEBUG": "1" if environment == "development" else "0",
                         "LEDGERDESK_ENV": environment})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"started {environment}"


def test_an_unknown_environment_is_refused():
    done = start_django({**PRODUCTION, "LEDGERDESK_ENV": "staging"})
    assert done.returncode != 0 and "LEDGERDESK_ENV must be one of" in done.stderr


def test_check_deploy_names_each_variable_at_its_fake(settings, capsys):
    settings.LEDGERDESK_FAKE_SETTINGS = ["STRIPE_SECRET_KEY", "EMAIL_URL"]
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", "--deploy", tags=["security"])
    message = str(raised.value)
    assert "STRIPE_SECRET_KEY is not set" in message and "EMAIL_URL is not set" in message
    assert message.count("ledgerdesk.E001") == 2


def test_check_deploy_is_clean_of_them_when_all_are_set(settings):
    settings.LEDGERDESK_FAKE_SETTINGS = []
    from backoffice.checks import production_settings_check

    assert production_settings_check() == []


def test_this_test_run_reports_its_fakes():
    """bin/test runs with LEDGERDESK_ENV=test and the fake Stripe keys: the check sees them."""
    from django.conf import settings

    from backoffice.checks import production_settings_check

    assert settings.LEDGERDESK_ENV == "test"
    names = {error.obj for error in production_settings_check()}
    assert {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} <= names


def _database_settings(env: dict[str, str]) -> str:
    clean = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    code = ("from django.conf import settings; d = settings.DATABASES['default'];"
            " print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_production_keeps_its_database_connections_with_health_checks():
    assert _database_settings({**PRODUCTION, "DJANGO_DEBUG": "0"}) == "600 True"
    assert _database_settings({**PRODUCTION, "DJANGO_DEBUG": "0", "DATABASE_CONN_MAX_AGE": "60",
                               "DATABASE_CONN_HEALTH_CHECKS": "0"}) == "60 False"


def test_the_bench_runs_the_shipped_connection_settings(monkeypatch):
    from bench._common import bench_env

    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "0")  # as bin/test sets it: the bench drops it
    env = bench_env()
    assert "DATABASE_CONN_MAX_AGE" not in env and "DATABASE_CONN_HEALTH_CHECKS" not in env
    assert _database_settings({k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}) == "600 True"
