"""Bench 2, pages under load: the back office's busiest pages and the portal's invoice list, served by
gunicorn from the bench database, under a load generator holding 16 connections.

For each page: p50 / p95 latency, requests per second, and the queries one request runs, counted with
Django's CaptureQueriesContext at two data sizes (a small database and the full one) to show the count does
not grow with the data. Baseline, in the same server and run: a view that runs one query (bench/urls.py,
mounted only under bench.settings), signed in like the staff pages.

    python -m bench.pages [--seconds 30] [--rounds 3] [--connections 16] [--workers 4] [--only WORDS]

The small database (BENCH_SMALL_DATABASE_URL, default ledgerdesk_bench_small on the bench server) is
created and filled with bench/generate.py at 1% scale when it does not exist.
Targets (issue 9): queries per request constant in the data size; each page's p95 within 5x the baseline's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from bench._common import (
    REPO,
    Table,
    bench_env,
    database_url,
    machine_line,
    median,
    percentile,
    ratio,
    say,
)

STAFF_USERNAME = "bench-finance"
PORTAL_USERNAME = "bench-portal"
SETTINGS = "bench.settings"
SMALL = {"customers": 1000, "transactions": 20000, "invoices": 3000, "payments": 3000}


def small_database_url() -> str:
    default = urlparse(database_url())._replace(path="/ledgerdesk_bench_small").geturl()
    return os.environ.get("BENCH_SMALL_DATABASE_URL", default)


def env_for(url: str) -> dict[str, str]:
    env = bench_env()
    env["DATABASE_URL"] = url
    env["BENCH_DATABASE_URL"] = url
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS
    return env


def setup(url: str) -> None:
    os.environ.update(env_for(url))
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


# --- The pages and who signs in -------------------------------------------------------------------------
def prepare() -> dict:
    """The staff and portal users (through the services, made once) and the pages' URLs for this database:
    the busiest customer's pages, the portal of the individual customer with the most invoices."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from audit.actors import Actor
    from backoffice.roles import FINANCE, roles_ensure
    from customers.models import CustomerUser
    from customers.services import customer_user_create

    User = get_user_model()
    staff, created = User.objects.get_or_create(username=STAFF_USERNAME, defaults={"is_staff": True})
    if created:
        staff.set_unusable_password()
        staff.save()
        staff.groups.add(roles_ensure()[FINANCE])
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id FROM customers_transaction GROUP BY customer_id "
                       "ORDER BY count(*) DESC, customer_id LIMIT 1")
        busiest = cursor.fetchone()[0]
        cursor.execute("SELECT i.customer_id FROM invoices_invoice i JOIN customers_customer c ON c.id = i.customer_id "
                       "WHERE c.invoice_setup = 'individual' AND c.show_invoices_tab "
                       "GROUP BY i.customer_id ORDER BY count(*) DESC, i.customer_id LIMIT 1")
        portal_customer = cursor.fetchone()[0]
    membership = CustomerUser.objects.filter(user__username=PORTAL_USERNAME).first()
    if membership is None:
        membership = customer_user_create(customer_id=portal_customer, username=PORTAL_USERNAME,
                                          email="portal@bench.example", password=os.urandom(12).hex() + "aA1!",
                                          actor=Actor.system("bench"))
    since = (timezone.localdate() - timezone.timedelta(days=120)).isoformat()
    pages = [
        ("baseline: one query", "/bench/one-query/", "staff"),
        ("customer list, search", "/customers/?q=logistics", "staff"),
        ("customer page (busiest customer)", f"/customers/{busiest}/", "staff"),
        ("customer transactions (latest 100)", f"/customers/{busiest}/transactions/", "staff"),
        ("payment list, filters", f"/payments/?status=allocated&method=bank_transfer&received_from={since}", "staff"),
        ("invoice list, filters", "/invoices/?type=monthly&status=sent", "staff"),
        ("aged receivables", "/reports/aged-receivables/", "staff"),
        ("portal invoice list", "/portal/invoices/?type=monthly", "portal"),
    ]
    return {"pages": pages, "staff_id": staff.pk, "portal_id": membership.user_id}


def session_cookies(prep: dict) -> dict[str, str]:
    """A signed-in session for each user, as the sign-in page would leave it (database sessions)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    cookies = {}
    for who, pk in (("staff", prep["staff_id"]), ("portal", prep["portal_id"])):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(pk=pk), backend="django.contrib.auth.backends.ModelBackend")
        cookies[who] = f"sessionid={client.cookies['sessionid'].value}"
    return cookies


def count_queries(prep: dict) -> dict[str, int]:
    """Queries of one request of each page (after one warm-up request), in this process."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    User = get_user_model()
    clients = {}
    for who, pk in (("staff", prep["staff_id"]), ("portal", prep["portal_id"])):
        clients[who] = Client(HTTP_HOST="127.0.0.1")
        clients[who].force_login(User.objects.get(pk=pk), backend="django.contrib.auth.backends.ModelBackend")
    counts = {}
    for label, url, who in prep["pages"]:
        first = clients[who].get(url)
        if first.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {first.status_code}")
        with CaptureQueriesContext(connection) as ctx:
            clients[who].get(url)
        counts[label] = len(ctx.captured_queries)
    return counts


def ensure_small_database(url: str) -> None:
    """The small database: created, migrated and filled at 1% scale the first time."""
    name = urlparse(url).path.lstrip("/")
    admin = urlparse(url)._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            say(f"creating the small database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    env = env_for(url)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=REPO)
    probe = subprocess.run([*manage, "shell", "-c", "from customers.models import Customer; "
                            "print(Customer.objects.exists())"], env=env, check=True, cwd=REPO,
                           capture_output=True, text=True).stdout.strip().splitlines()
    if probe[-1:] != ["True"]:
        say("filling the small database (bench/generate.py at 1% scale)")
        args = [f"--{k}={v}" for k, v in SMALL.items()]
        subprocess.run([sys.executable, "-m", "bench.generate", *args], env=env, check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)


# --- gunicorn and the load generator --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [str(REPO / ".venv" / "bin" / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--worker-class", "sync", "--timeout", "900", "--backlog", "256",
           "--log-level", "warning"]
    if not os.path.exists(cmd[0]):
        cmd[0] = "gunicorn"
    proc = subprocess.Popen(cmd, env=env_for(database_url()), cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not start within 60 s")


def get(port: int, path: str, cookie: str) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1", "Connection": "close"})
        response = conn.getresponse()
        body = response.read()
        return response.status, len(body)
    finally:
        conn.close()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    size: int = 0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else float("nan")


def load(port: int, path: str, cookie: str, *, seconds: float, connections: int, warmup: float = 2.0) -> LoadResult:
    """`connections` threads, each sending one request after the other for warmup + seconds; the requests
    started after the warm-up are measured (their latency from send to last byte)."""
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    result = LoadResult()
    lock = threading.Lock()
    last_end = [start_at]

    def worker() -> None:
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            try:
                status, size = get(port, path, cookie)
            except OSError:
                status, size = 0, 0
            ended = time.perf_counter()
            if began < start_at:
                continue
            with lock:
                if status == 200:
                    result.latencies.append(ended - began)
                    result.size = size
                else:
                    result.errors += 1
                last_end[0] = max(last_end[0], ended)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = last_end[0] - start_at
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds per page (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all the pages (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4: 2 x cores)")
    parser.add_argument("--only", default="", help="comma-separated words: measure only the pages whose label has "
                        "one (the baseline is always measured)")
    parser.add_argument("--count-only", action="store_true", help=argparse.SUPPRESS)  # the small-size subprocess
    args = parser.parse_args()

    if args.count_only:
        setup(database_url())
        print(json.dumps(count_queries(prepare())))
        return

    small_url = small_database_url()
    ensure_small_database(small_url)
    say("counting queries on the small database")
    small_counts = json.loads(subprocess.run(
        [sys.executable, "-m", "bench.pages", "--count-only"], env=env_for(small_url), cwd=REPO, check=True,
        capture_output=True, text=True).stdout.strip().splitlines()[-1])

    setup(database_url())
    from bench._common import data_size_line

    machine = machine_line()
    prep = prepare()
    if args.only:
        words = [w.strip() for w in args.only.split(",") if w.strip()]
        prep["pages"] = [p for i, p in enumerate(prep["pages"]) if i == 0 or any(w in p[0] for w in words)]
    sizes = data_size_line()
    say("counting queries on the full database")
    full_counts = count_queries(prep)
    cookies = session_cookies(prep)
    from django.db import connections

    connections.close_all()

    proc, port = start_gunicorn(args.workers)
    try:
        for label, url, who in prep["pages"]:
            status, _ = get(port, url, cookies[who])
            if status != 200:
                raise SystemExit(f"{label}: {url} answered {status} under gunicorn")
        # Rounds: every page (the baseline too) is measured in each round, so load that other work puts on
        # the machine falls on all of them alike instead of on whichever page was measured at that moment.
        results: dict[str, LoadResult] = {label: LoadResult() for label, _, _ in prep["pages"]}
        for n in range(1, args.rounds + 1):
            for label, url, who in prep["pages"]:
                say(f"round {n}/{args.rounds}: {label} ({args.connections} connections, "
                    f"{args.seconds / args.rounds:.0f} s)")
                r = load(port, url, cookies[who], seconds=args.seconds / args.rounds, connections=args.connections)
                total = results[label]
                total.latencies += r.latencies
                total.errors += r.errors
                total.seconds += r.seconds
                total.size = r.size or total.size
        alone: dict[str, float] = {}
        for label, url, who in prep["pages"]:  # one connection: what a request costs when it waits for nothing
            times = []
            for _ in range(5):
                started = time.perf_counter()
                get(port, url, cookies[who])
                times.append(time.perf_counter() - started)
            alone[label] = median(times)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    base_label = prep["pages"][0][0]
    base_p95 = percentile(results[base_label].latencies, 95)
    table = Table(
        title="Pages under load: gunicorn, 16 connections, against a one-query view in the same server and run",
        columns=["page", "p50 ms", "p95 ms", "req/s", "p95 / baseline p95", "alone ms", "alone / baseline",
                 "queries (small -> full)", "constant", "KB", "errors"],
    )
    worst = 0.0
    for label, _url, _who in prep["pages"]:
        r = results[label]
        p95 = percentile(r.latencies, 95)
        if label != base_label:
            worst = max(worst, p95 / base_p95 if base_p95 else float("nan"))
        small_n, full_n = small_counts.get(label), full_counts[label]
        table.add(label, median(r.latencies) * 1000, p95 * 1000, r.rps, ratio(p95, base_p95), alone[label] * 1000,
                  ratio(alone[label], alone[base_label]), f"{small_n} -> {full_n}", "yes" if small_n == full_n else "NO", r.size / 1024, str(r.errors))
    small = ", ".join(f"{v:,} {k}" for k, v in SMALL.items())
    table.notes = [
        machine,
        f"full database {sizes}; small database: {small} (bench/generate.py).",
        f"gunicorn {args.workers} sync workers, DEBUG off, persistent database connections; load generator: "
        f"{args.connections} Python threads, one request after another each, {args.seconds:.0f} s measured per page "
        f"in {args.rounds} rounds over all the pages (2 s of warm-up before each), on the same 2 cores as the "
        "server and PostgreSQL.",
        "alone: median of 5 requests on one connection after the load (no queueing): the cost of the page itself.",
        "Queries: one request of each page after a warm-up request, counted with CaptureQueriesContext "
        "(session and user lookups included).",
        f"Targets (issue 9): queries constant in the data size; p95 within 5x the baseline's (worst page: "
        f"{worst:.1f}x).",
    ]
    table.emit("pages")


if __name__ == "__main__":
    main()
