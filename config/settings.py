"""Ledgerdesk settings. Every difference between development, test and production is an environment
variable, documented in `.env.example`. Secrets come only from the environment."""

from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab

from config import environment

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# development (bin/run) | test (bin/test, the bench) | production (the default when DEBUG is off): production
# refuses to start unless every variable in config.environment.REQUIRED is set (none falls back to a fake).
LEDGERDESK_ENV = environment.environment(DEBUG)
_required = environment.required(LEDGERDESK_ENV)
# The required variables that fell back to their fake (development and test only): `check --deploy` names them.
LEDGERDESK_FAKE_SETTINGS = [name for name in environment.REQUIRED if environment.unset(name)]

SECRET_KEY = _required["DJANGO_SECRET_KEY"]
ALLOWED_HOSTS = [host.strip() for host in _required["DJANGO_ALLOWED_HOSTS"].split(",") if host.strip()]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "ninja",  # django-ninja's templates and static files: the API docs page served offline, never a CDN
    "common",  # app-agnostic: the idempotency records (API keys and form tokens), shared template tags
    # Ledgerdesk, lowest layer first: audit <- customers <- invoices <- finance <- portal, api
    "audit",
    "customers",
    "invoices",
    "finance",
    "portal",
    "api",
    "banking",  # bank statements and reconciliation: beside api/portal, above finance
    "backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.ApiEdgeMiddleware",  # /api/: body size limits (413) and every error as problem+json
    "common.middleware.RefuseNulBytesMiddleware",  # a NUL in the path, query or form: 400, before any query
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # signed-in responses: Cache-Control no-store; the session's idle expiry slides (staff / portal)
    "common.middleware.SignedInResponsesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "common.middleware.OwnErrorPagesMiddleware",  # DEBUG on: our 404/500 pages, never the URL patterns or a traceback
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.RequestIdMiddleware",
    # axes last, as its docs ask
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# Templates, and the widget templates of Django's own form renderer (the default FORM_RENDERER), are compiled
# once per process: with no "loaders" option Django wraps its loaders in the cached loader (in development too,
# where the runserver reloads a changed template); tests/common/test_templates.py checks the production settings.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "backoffice.context_processors.staff_roles",
            ],
            "builtins": ["customers.templatetags.money", "common.templatetags.pages"],
        },
    }
]

# --- Database: one PostgreSQL schema for all apps. The run/test commands set DATABASE_URL to their
# embedded server when none is given.
DATABASES = {"default": env.db_url_config(_required["DATABASE_URL"])}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions
# Persistent connections: a request reuses its worker's connection for up to 10 minutes instead of opening one
# (a TCP + TLS + auth round trip) per request; the health check replaces a connection the server dropped before
# the request uses it. bin/test sets DATABASE_CONN_MAX_AGE=0 (tooling/test.py); the bench runs these defaults.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_ledgerdesk")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery
REDIS_URL = _required["REDIS_URL"]
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task gives the task back; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The daily auto top-up decides a chunk in one batch transaction (finance.services.auto_top_up._top_up_batch);
# off: every candidate one by one, in its own transaction (the path before issue 24's batch, kept for A/B).
LEDGERDESK_AUTO_TOP_UP_BATCH = env.bool("LEDGERDESK_AUTO_TOP_UP_BATCH", default=True)
CELERY_TIMEZONE = env.str("LEDGERDESK_OPERATOR_TIMEZONE", default="Asia/Singapore")

CELERY_BEAT_SCHEDULE = {
    "expire-reservations": {"task": "customers.tasks.expire_reservations", "schedule": 60.0},
    "renew-subscriptions": {"task": "invoices.tasks.renew_subscriptions", "schedule": crontab(hour=0, minute=30)},
    # Days 1, 2 and 3: each run bills only the customers still without last month's invoice (days 2 and 3
    # catch what day 1 missed); chunks left by a lost worker and failed customers' retries every 5 minutes.
    "monthly-billing-run": {
        "task": "finance.tasks.billing_run_start",
        "schedule": crontab(day_of_month="1-3", hour=1, minute=0),
    },
    "billing-run-resume": {"task": "finance.tasks.billing_run_resume", "schedule": crontab(minute="*/5")},
    "daily-auto-top-up": {"task": "finance.tasks.daily_auto_top_up", "schedule": crontab(hour=6, minute=0)},
    # Checkout payments left open past their session's lifetime: expired at Stripe and marked expired
    "expire-card-payments": {"task": "finance.tasks.expire_card_payments", "schedule": crontab(minute="*/15")},
    # today's aged receivables (the view finance_agedreceivable: finance/sql/aged_receivables.sql says why)
    "refresh-aged-receivables": {"task": "finance.tasks.refresh_aged_receivables", "schedule": crontab(minute="*/5")},
    # the dashboard's scanning figures (backoffice.models.DashboardSnapshot: backoffice.selectors.SNAPSHOT says why)
    "refresh-dashboard": {"task": "backoffice.tasks.refresh_dashboard", "schedule": crontab(minute="*/5")},
    # the API's Idempotency-Key replies, kept 24 h
    "purge-idempotency-records": {"task": "api.tasks.purge_idempotency_records", "schedule": crontab(minute=7)},
    # audit events are appended unsealed and sealed into their chains here (docs/audit.md: why, with figures)
    "seal-audit-trail": {"task": "audit.tasks.seal_audit_trail", "schedule": 30.0},
    # the chain heads by email (only when AUDIT_ANCHOR_EMAILS is set)
    "email-audit-anchor": {"task": "audit.tasks.email_audit_anchor", "schedule": crontab(hour=0, minute=15)},
}

# --- Auth
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in throttling: AXES_FAILURE_LIMIT failures for one username from one IP, or AXES_IP_FAILURE_LIMIT from
# one IP whatever the usernames (one address trying many accounts), lock that pair / that IP out for the
# cool-off. backoffice.throttle gives each lockout parameter its own limit. REMOTE_ADDR must be the client's
# address (behind a proxy, have it set REMOTE_ADDR), or every customer behind the proxy shares one IP limit.
AXES_HANDLER = "backoffice.throttle.PerParameterLimitsHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_IP_FAILURE_LIMIT = env.int("AXES_IP_FAILURE_LIMIT", default=30)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- Sessions: signed out after this long without a request (the expiry slides with activity,
# common.middleware.SignedInResponsesMiddleware); staff, who can move money, sooner than portal customers.
LEDGERDESK_STAFF_SESSION_IDLE_SECONDS = env.int("LEDGERDESK_STAFF_SESSION_IDLE_SECONDS", default=8 * 3600)
LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS = env.int("LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS", default=12 * 3600)
SESSION_COOKIE_AGE = max(LEDGERDESK_STAFF_SESSION_IDLE_SECONDS, LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS)

# --- Internationalisation
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("LEDGERDESK_OPERATOR_TIMEZONE", default="Asia/Singapore")
USE_I18N = False
USE_TZ = True

# --- Static files (htmx and our CSS live in static/, never a CDN)
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG and env.bool("LEDGERDESK_COLLECTSTATIC", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- Email (console in development; EMAIL_URL in production, e.g. smtp+tls://user:pw@host:587)
vars().update(env.email_url_config(_required["EMAIL_URL"]))
DEFAULT_FROM_EMAIL = _required["DEFAULT_FROM_EMAIL"]

# --- Content Security Policy: no inline script anywhere (django-csp 4)
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF] + env.list("LEDGERDESK_CSP_FORM_ACTION", default=[]),
        "object-src": [NONE],
        "base-uri": [SELF],
    }
}

# --- Security (production values unless DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Ledgerdesk business settings
LEDGERDESK_DEFAULT_CURRENCY = env.str("LEDGERDESK_DEFAULT_CURRENCY", default="SGD")
LEDGERDESK_MIN_TOP_UP = Decimal(env.str("LEDGERDESK_MIN_TOP_UP", default="10"))
# The largest top-up, auto top-up trigger amount and limit threshold anyone may set, and the largest credit limit
# (a typo such as 1000000000 is refused instead of charged or lent).
LEDGERDESK_MAX_TOP_UP = Decimal(env.str("LEDGERDESK_MAX_TOP_UP", default="1000000.00"))
LEDGERDESK_MAX_CREDIT_LIMIT = Decimal(env.str("LEDGERDESK_MAX_CREDIT_LIMIT", default="10000000.00"))
# The platform's API (docs/api.md): requests per key per window (429 beyond), and body sizes (413 beyond).
LEDGERDESK_API_RATE_LIMIT = env.int("LEDGERDESK_API_RATE_LIMIT", default=6000)
LEDGERDESK_API_RATE_WINDOW_SECONDS = env.int("LEDGERDESK_API_RATE_WINDOW_SECONDS", default=60)
LEDGERDESK_API_MAX_BODY_BYTES = env.int("LEDGERDESK_API_MAX_BODY_BYTES", default=64 * 1024)
LEDGERDESK_API_MAX_BATCH_BODY_BYTES = env.int("LEDGERDESK_API_MAX_BATCH_BODY_BYTES", default=8 * 1024 * 1024)
# Bank statements (docs/reconciliation.md): the largest file accepted (bigger ones are refused whole, unread; a
# 50,000-line camt.053 as bench/bank_import.py writes it is 36.6 MB),
# and the size above which an upload is imported by the Celery worker while the page shows its progress.
LEDGERDESK_BANK_STATEMENT_MAX_BYTES = env.int("LEDGERDESK_BANK_STATEMENT_MAX_BYTES", default=40 * 1024 * 1024)
LEDGERDESK_BANK_IMPORT_INLINE_BYTES = env.int("LEDGERDESK_BANK_IMPORT_INLINE_BYTES", default=256 * 1024)
LEDGERDESK_RESERVATION_TIMEOUT_SECONDS = env.int("LEDGERDESK_RESERVATION_TIMEOUT_SECONDS", default=900)
# Invoices: the tax rate (percent, SGD GST by default) on purchase and monthly lines (top-ups are untaxed)
# and the payment terms that set an invoice's due date.
LEDGERDESK_TAX_RATE = Decimal(env.str("LEDGERDESK_TAX_RATE", default="9"))
LEDGERDESK_PAYMENT_TERMS_DAYS = env.int("LEDGERDESK_PAYMENT_TERMS_DAYS", default=14)
LEDGERDESK_SELLER = {
    "name": _required["LEDGERDESK_SELLER_NAME"],
    "address": _required["LEDGERDESK_SELLER_ADDRESS"],
    "tax_id": _required["LEDGERDESK_SELLER_TAX_ID"],
}

# --- Audit trail (docs/audit.md). Events are sealed into their hash chains by the beat task above; each seal
# appends the chain heads it moved to AUDIT_ANCHOR_FILE (JSON lines; empty: no file), which must live where the
# database's owner cannot rewrite it (another host, an append-only mount); verify_audit compares the chains with
# it. AUDIT_ANCHOR_EMAILS (comma-separated) also receive every head once a day. verify_audit fails when an event
# has stayed unsealed longer than AUDIT_UNSEALED_MAX_AGE_SECONDS (the beat task is not running).
AUDIT_ANCHOR_FILE = env.str("AUDIT_ANCHOR_FILE", default=str(BASE_DIR / ".data" / "audit-anchor.jsonl"))
AUDIT_ANCHOR_EMAILS = env.list("AUDIT_ANCHOR_EMAILS", default=[])
AUDIT_UNSEALED_MAX_AGE_SECONDS = env.int("AUDIT_UNSEALED_MAX_AGE_SECONDS", default=300)

# --- Stripe (the only place that reads these is finance/cards/gateway.py)
STRIPE_SECRET_KEY = _required["STRIPE_SECRET_KEY"]
STRIPE_WEBHOOK_SECRET = _required["STRIPE_WEBHOOK_SECRET"]
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # empty = Stripe's own; tests point it at the fake

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
