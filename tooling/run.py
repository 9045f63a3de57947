"""`bin/run`: the whole product on one machine. Starts (or uses) PostgreSQL and Redis, migrates, loads the
demo data, then runs the web server, a Celery worker, Celery beat and, unless a real Stripe is configured,
the local fake Stripe. Prints the URL and the demo logins. Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from api.devkey import DEMO_API_KEY
from config.environment import REQUIRED
from tooling.services import DATA, ROOT, ensure_postgres, ensure_redis, free_port, say

PY = sys.executable


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("LEDGERDESK_ENV", "development")  # the fake secrets may stand in (config/environment.py)
    host = os.environ.get("LEDGERDESK_HOST", "127.0.0.1")
    port = int(os.environ.get("LEDGERDESK_PORT", "8000"))
    say(f"database: {ensure_postgres('pg')}")
    say(f"redis:    {ensure_redis()}")

    procs: list[subprocess.Popen] = []
    if not os.environ.get("STRIPE_API_BASE") and not os.environ.get("STRIPE_SECRET_KEY", "").startswith("sk_live"):
        stripe_port = free_port()
        os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{stripe_port}"
        os.environ.setdefault("STRIPE_WEBHOOK_SECRET", REQUIRED["STRIPE_WEBHOOK_SECRET"])  # the fake's
        os.environ["LEDGERDESK_CSP_FORM_ACTION"] = os.environ["STRIPE_API_BASE"]
        procs.append(subprocess.Popen(
            [PY, "-m", "fakestripe", "--port", str(stripe_port),
             "--webhook-url", f"http://{host}:{port}/stripe/webhook/",
             "--webhook-secret", os.environ["STRIPE_WEBHOOK_SECRET"]], cwd=ROOT))
        say(f"stripe:   local fake Stripe at {os.environ['STRIPE_API_BASE']}")

    manage("migrate", "--noinput", "-v", "0")
    manage("seed_demo")

    DATA.mkdir(exist_ok=True)
    procs += [
        subprocess.Popen([PY, "manage.py", "runserver", "--noreload", f"{host}:{port}"], cwd=ROOT),
        subprocess.Popen([PY, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
                          "--concurrency", "2", "--without-gossip", "--without-mingle"], cwd=ROOT),
        subprocess.Popen([PY, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
                          "--schedule", str(DATA / "celerybeat-schedule")], cwd=ROOT),
    ]
    time.sleep(1.5)
    print(
        f"""
  Ledgerdesk is running at  http://{host}:{port}/
    staff (Finance role):   finance / ledgerdesk-finance
    staff (Viewer role):    viewer  / ledgerdesk-viewer
    superuser (/admin/):    admin   / ledgerdesk-admin
    customer portal:        http://{host}:{port}/portal/   acme / ledgerdesk-customer
    usage API (docs):       http://{host}:{port}/api/v1/docs   key of telephony-platform (development only):
      curl -H "Authorization: Bearer {DEMO_API_KEY}" http://{host}:{port}/api/v1/customers/ACME
  Ctrl-C stops the web server, worker, beat and the embedded servers.
""",
        flush=True,
    )

    def stop(*_):
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        say("a process stopped; stopping the rest")
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
