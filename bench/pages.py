"""Bench 2, pages under load: every staff and portal list page (its first page and its last), the detail
pages, and Django admin's changelist of the same rows, served by gunicorn from the bench database under a load
generator holding 16 connections.

For each page: p50 / p95 latency, requests per second, and the queries one request runs, counted with
Django's CaptureQueriesContext at two data sizes (a small database and the full one) to show the count does
not grow with the data. Baselines, in the same server and run:
- a view that runs one query (bench/urls.py, mounted only under bench.settings), signed in like the staff pages;
- for a list, Django admin's changelist of the same rows (same model, same filter, the same ordering where
  admin's `o=` allows it), signed in as a superuser: the page is expected to be much faster than admin.

The pages are found by their URL names (`reverse()`), not paths, and the rows they show are picked from the
data (the busiest customer, the portal customer with the most invoices, ...): `page_specs` lists them. A
list's last page is found by asking it for page 1,000,000,000 (every list answers its last page to a page
number past the end) and reading the number of the `page` in its template context (admin: `cl`'s paginator);
tests/bench/test_pages.py runs the whole list on a tiny generated database, so a renamed URL, filter or context
breaks a test, not the next bench run.

    python -m bench.pages [--seconds 6] [--rounds 3] [--warmup 0.5] [--connections 16] [--workers 4] [--only WORDS]

Every page (the baselines too) is measured in each round, `--seconds / --rounds` seconds a round after
`--warmup` seconds of load that is not measured. With the defaults (about 80 pages and changelists) the run
takes about 15 minutes on 2 cores.

The small database (BENCH_SMALL_DATABASE_URL, default ledgerdesk_bench_small on the bench server) is
created and filled with bench/generate.py at 1% scale when it does not exist, and either database without
statement lines gets a statement imported (bench/bank_import.py --fill: 500 lines in the small one, 50,000 in the
full one), so the reconcile inbox is measured and its queries counted at both sizes. The customer fields are one picker
(customers.forms.CustomerPicker, issue 23) whose queries do not depend on the number of customers.
Targets (issue 20): queries per request constant in the data size; each page's p95 within 6x the one-query
view's; each list at least 10x faster (p95) than Django admin's changelist of the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlparse

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
ADMIN_USERNAME = "bench-admin"
SETTINGS = "bench.settings"
SMALL = {"customers": 1000, "transactions": 20000, "invoices": 3000, "payments": 3000}
SMALL_STATEMENT_LINES = 500  # 1% of bench/bank_import.py's 50,000
FULL_STATEMENT_LINES = 50_000
# A page number past the end of every list: each list answers its last page to it (Paginator.get_page).
PAST_THE_END = 10**9
TARGET_BASELINE = 6.0  # a page's p95 within 6x the one-query view's
TARGET_ADMIN = 10.0  # a list's p95 at least 10x below Django admin's changelist of the same rows


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


# --- The pages ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rows:
    """The rows the pages show, picked from the data (None: the data has no such row)."""

    busiest: int  # the customer with the most ledger transactions: its page, transactions and settings
    portal: int  # the portal customer: an individual one with the invoices tab and the most invoices
    # the customers with the most rows in their other tabs (the busiest may have none)
    reserving: int  # open reservations
    subscriber: int  # subscriptions
    notified: int  # notifications
    audited: int  # audit events
    invoice: int | None  # the busiest customer's invoice with the most lines
    payment: int | None  # the payment with the most allocations
    allocatable: int | None  # an assigned payment with money left to allocate
    credit_note: int | None
    withdrawal: int | None
    wallet: int | None  # the master wallet with the most entries
    portal_purchase: int | None  # the portal customer's purchase invoice, an open one if any
    run_date: dt.date  # the day the auto top-up runs page opens on (the latest run's, else today)
    since: dt.date  # the payment list's "received from" filter: 120 days ago


@dataclass(frozen=True)
class ListSpec:
    label: str
    url: str  # the first page, with its filters
    who: str  # "staff" or "portal"
    admin: str = ""  # Django admin's changelist of the same rows (with its filter and ordering), if any
    paged: bool = True  # False: the page shows a fixed number of rows (latest 100), no page numbers


@dataclass(frozen=True)
class DetailSpec:
    label: str
    url: str | None  # None: no such row in this database (the page is not measured)
    who: str


def _url(name: str, *args, **query) -> str:
    from django.urls import reverse

    path = reverse(name, args=args)
    return f"{path}?{urlencode(query)}" if query else path


def _admin(model: str, **query) -> str:
    """The changelist of `app_label.model` (its URL name), with admin's own filter and ordering parameters
    (`o=-2.-1`: the 2nd then the 1st column of list_display, descending)."""
    app_label, name = model.split(".")
    return _url(f"admin:{app_label}_{name}_changelist", **query)


def page_specs(rows: Rows) -> tuple[list[ListSpec], list[DetailSpec]]:
    """Every staff and portal list, with Django admin's changelist of the same rows, and the detail pages."""
    b, p = rows.busiest, rows.portal
    lists = [
        # back office
        ListSpec("customer list", _url("customers:list"), "staff", _admin("customers.customer", o="2")),
        ListSpec("customer list, search", _url("customers:list", q="logistics"), "staff",
                 _admin("customers.customer", q="logistics", o="2")),
        ListSpec("customer transactions (latest 100)", _url("customers:transactions", b), "staff",
                 _admin("customers.transaction", customer__id__exact=b, o="-2.-1"), paged=False),
        ListSpec("customer reservations (open)", _url("customers:reservations", rows.reserving), "staff",
                 _admin("customers.reservation", customer__id__exact=rows.reserving, status__exact="open",
                        o="-2.-1")),
        ListSpec("customer subscriptions", _url("customers:subscriptions", rows.subscriber), "staff",
                 _admin("customers.subscription", customer__id__exact=rows.subscriber, o="6.1"), paged=False),
        ListSpec("customer notifications", _url("customers:notifications", rows.notified), "staff",
                 _admin("customers.notification", customer__id__exact=rows.notified, o="-2.-1")),
        ListSpec("customer audit", _url("customers:audit", rows.audited), "staff",
                 _admin("audit.auditevent", customer_id=rows.audited)),
        ListSpec("master wallets", _url("customers:wallets"), "staff", _admin("customers.masterwallet"),
                 paged=False),
        ListSpec("invoice list", _url("invoices:list"), "staff", _admin("invoices.invoice", o="-5")),
        ListSpec("invoice list, filters", _url("invoices:list", type="monthly", status="sent"), "staff",
                 _admin("invoices.invoice", type__exact="monthly", status__exact="sent", o="-5")),
        ListSpec("payment list", _url("finance:payment-list"), "staff", _admin("finance.payment", o="-2.-1")),
        ListSpec("payment list, filters",
                 _url("finance:payment-list", status="allocated", method="bank_transfer", received_from=rows.since),
                 "staff", _admin("finance.payment", status__exact="allocated", method__exact="bank_transfer",
                                 received_date__gte=rows.since, o="-2.-1")),
        ListSpec("credit notes", _url("finance:credit-note-list"), "staff", _admin("finance.creditnote", o="-2")),
        ListSpec("withdrawals", _url("finance:withdrawal-list"), "staff", _admin("finance.withdrawal", o="-2.-1")),
        # the report's rows are customers; admin's nearest list is the open receivable invoices it sums
        ListSpec("aged receivables", _url("finance:aged-receivables"), "staff",
                 _admin("invoices.invoice", status__in="sent,partially_paid", type__in="monthly,purchase", o="4")),
        ListSpec("organizations (payment settings)", _url("finance:settings-list"), "staff",
                 _admin("finance.paymentsettings", o="1")),
        ListSpec("auto top-up runs", _url("finance:auto-top-up-runs"), "staff",
                 _admin("finance.autotopupdecision", run_date=rows.run_date, o="-2.3")),
        ListSpec("audit trail", _url("audit:list"), "staff", _admin("audit.auditevent")),
        ListSpec("API keys", _url("api:settings-api-keys"), "staff", _admin("api.apikey", o="-4")),
        # bank statements (issue 22): the reconcile inbox (lines to reconcile, best suggestions first) and the imports
        ListSpec("reconcile inbox", _url("banking:line-list"), "staff",
                 _admin("banking.statementline", state__in="new,suggested")),
        ListSpec("bank statements", _url("banking:statement-list"), "staff", _admin("banking.statement")),
        # portal (the customer's own rows)
        ListSpec("portal invoices", _url("portal:invoice-list"), "portal",
                 _admin("invoices.invoice", customer__id__exact=p, status__in="sent,partially_paid,paid,void",
                        o="-5")),
        ListSpec("portal transactions (latest 100)", _url("portal:transactions"), "portal",
                 _admin("customers.transaction", customer__id__exact=p, o="-2.-1"), paged=False),
        # card payments, allocations and top-ups in one list; admin's nearest is the allocations
        ListSpec("portal payments", _url("portal:payments"), "portal",
                 _admin("finance.allocation", customer__id__exact=p, o="-2.-1")),
        ListSpec("portal notifications", _url("portal:notifications"), "portal",
                 _admin("customers.notification", customer__id__exact=p, o="-2.-1")),
        ListSpec("portal audit trail", _url("portal:audit"), "portal", _admin("audit.auditevent", customer_id=p)),
    ]

    def detail(label: str, name: str, pk: int | None, who: str = "staff") -> DetailSpec:
        return DetailSpec(label, _url(name, pk) if pk is not None else None, who)

    details = [
        DetailSpec("dashboard", _url("dashboard"), "staff"),
        detail("customer page (busiest customer)", "customers:detail", b),
        detail("customer payment settings", "finance:settings-edit", b),
        detail("master wallet (entries)", "customers:wallet", rows.wallet),
        detail("invoice page (most lines)", "invoices:detail", rows.invoice),
        detail("invoice: record a payment", "finance:invoice-payment", rows.invoice),
        detail("payment page (most allocations)", "finance:payment-detail", rows.payment),
        detail("payment: allocate", "finance:payment-allocate", rows.allocatable),
        detail("credit note page", "finance:credit-note-detail", rows.credit_note),
        detail("withdrawal page", "finance:withdrawal-detail", rows.withdrawal),
        DetailSpec("portal home", _url("portal:home"), "portal"),
        detail("portal invoice pay page", "portal:invoice-pay", rows.portal_purchase, "portal"),
        DetailSpec("portal top-up", _url("portal:top-up"), "portal"),
        DetailSpec("portal card settings", _url("portal:card-settings"), "portal"),
    ]
    return lists, details


def portal_customer() -> int:
    """The portal's customer: an individual one with the invoices tab, the most invoices of them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT i.customer_id FROM invoices_invoice i JOIN customers_customer c ON c.id = i.customer_id "
                       "WHERE c.invoice_setup = 'individual' AND c.show_invoices_tab "
                       "GROUP BY i.customer_id ORDER BY count(*) DESC, i.customer_id LIMIT 1")
        return cursor.fetchone()[0]


def find_rows(portal: int) -> Rows:
    """The rows the pages show in this database (reads only; after `ensure_users`, whose portal user's
    creation is an audit event, so every run picks the same customers)."""
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from customers.models import MasterWallet
    from finance.models import AutoTopUpRun, CreditNote, Payment, PaymentStatus, Withdrawal
    from invoices.models import OPEN_STATUSES, Invoice, InvoiceType

    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id FROM customers_transaction GROUP BY customer_id "
                       "ORDER BY count(*) DESC, customer_id LIMIT 1")
        busiest = cursor.fetchone()[0]
        most = {}
        for name, sql in (
            ("reserving", "SELECT customer_id FROM customers_reservation WHERE status = 'open'"),
            ("subscriber", "SELECT customer_id FROM customers_subscription"),
            ("notified", "SELECT customer_id FROM customers_notification"),
            ("audited", "SELECT customer_id FROM audit_auditevent WHERE customer_id IS NOT NULL"),
        ):
            cursor.execute(f"{sql} GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1")
            row = cursor.fetchone()
            most[name] = row[0] if row else busiest

    def first(qs) -> int | None:
        return qs.values_list("pk", flat=True).first()

    purchases = Invoice.objects.filter(customer_id=portal, type=InvoiceType.PURCHASE)
    return Rows(
        busiest=busiest,
        portal=portal,
        **most,
        invoice=first(Invoice.objects.filter(customer_id=busiest).annotate(n=Count("lines")).order_by("-n", "-pk")),
        payment=first(Payment.objects.annotate(n=Count("allocations")).order_by("-n", "-pk")),
        allocatable=first(Payment.objects.filter(customer__isnull=False, status__in=[
            PaymentStatus.UNALLOCATED, PaymentStatus.PARTIALLY_ALLOCATED]).order_by("-pk")),
        credit_note=first(CreditNote.objects.order_by("-pk")),
        withdrawal=first(Withdrawal.objects.order_by("-pk")),
        wallet=first(MasterWallet.objects.annotate(n=Count("entries")).order_by("-n", "pk")),
        portal_purchase=first(purchases.filter(status__in=OPEN_STATUSES).order_by("-pk")) or first(
            purchases.order_by("-pk")),
        run_date=AutoTopUpRun.objects.order_by("-run_date").values_list("run_date", flat=True).first()
        or timezone.localdate(),
        since=timezone.localdate() - dt.timedelta(days=120),
    )


# --- Who signs in ---------------------------------------------------------------------------------------
def ensure_users(portal: int) -> dict[str, int]:
    """The finance user (the Finance role), the superuser (admin) and the portal user of customer `portal`,
    made once per database."""
    from django.contrib.auth import get_user_model

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
    admin, created = User.objects.get_or_create(username=ADMIN_USERNAME,
                                                defaults={"is_staff": True, "is_superuser": True})
    if created:
        admin.set_unusable_password()
        admin.save()
    membership = CustomerUser.objects.filter(user__username=PORTAL_USERNAME).first()
    if membership is None:
        membership = customer_user_create(customer_id=portal, username=PORTAL_USERNAME,
                                          email="portal@bench.example", password=os.urandom(12).hex() + "aA1!",
                                          actor=Actor.system("bench"))
    return {"staff": staff.pk, "admin": admin.pk, "portal": membership.user_id}


def signed_in_clients(users: dict[str, int]) -> dict:
    """A Django test client signed in as each user (database sessions, as the sign-in page leaves them)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    clients = {}
    for who, pk in users.items():
        clients[who] = Client(HTTP_HOST="127.0.0.1")
        clients[who].force_login(User.objects.get(pk=pk), backend="django.contrib.auth.backends.ModelBackend")
    clients["baseline"] = clients["staff"]
    return clients


# --- The entries measured ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One URL measured. `label` names it at every data size (query counts are matched by it)."""

    label: str
    url: str
    who: str  # "baseline", "staff", "portal" or "admin"
    kind: str  # "baseline", "list", "last", "detail", "admin", "admin last"
    admin: str = ""  # list and last-page entries: the label of admin's changelist of the same rows
    rows: int | None = None  # lists: the rows it holds (admin: the rows of its changelist)
    page: int = 1  # the page number shown (last pages)
    repeat: bool = False  # a last page that is the first (one page of rows): counted, not loaded again


class PageError(Exception):
    """A page of the list did not answer as the bench expects (status, or a list without its page)."""


def _with(url: str, **query) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


def _context_value(response, name: str):
    context = response.context
    if context is None:
        return None
    try:
        return context[name]
    except KeyError:
        return None


def _get(client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise PageError(f"{url} answered {response.status_code}")
    return response


def build_entries(lists: list[ListSpec], details: list[DetailSpec], clients: dict) -> tuple[list[Entry], list[str]]:
    """The entries to measure, in table order, and the labels of the pages this database has no row for.
    Each list is asked for its last page (PAST_THE_END) and admin for its changelist's page count, through the
    test clients (Django's test environment must be set up: the pages' context is read)."""
    entries = [Entry("baseline: one query", _url("bench-one-query"), "baseline", "baseline")]
    admins: dict[str, Entry] = {}  # by URL: two lists of the same rows share one changelist
    admin_entries: list[Entry] = []
    for spec in lists:
        admin_first = admin_last = ""
        if spec.admin:
            if spec.admin not in admins:
                cl = _context_value(_get(clients["admin"], spec.admin), "cl")
                if cl is None:
                    raise PageError(f"{spec.admin}: no changelist in the response")
                first = Entry(f"admin | {spec.label}", spec.admin, "admin", "admin", rows=cl.result_count)
                pages = cl.paginator.num_pages
                last = Entry(f"admin | {spec.label}, last page", _with(spec.admin, p=pages), "admin", "admin last",
                             rows=cl.result_count, page=pages, repeat=pages <= 1)
                admins[spec.admin] = first
                admins[spec.admin + "#last"] = last
                admin_entries.append(first)
            admin_first = admins[spec.admin].label
            last = admins[spec.admin + "#last"]
            admin_last = admin_first if last.repeat else last.label
            if spec.paged and last not in admin_entries:
                admin_entries.append(last)  # only beside a list's last page
        if not spec.paged:
            _get(clients[spec.who], spec.url)
            entries.append(Entry(spec.label, spec.url, spec.who, "list", admin=admin_first))
            continue
        page = _context_value(_get(clients[spec.who], _with(spec.url, page=PAST_THE_END)), "page")
        if page is None or not hasattr(page, "paginator"):
            raise PageError(f"{spec.url}: no `page` in the context of a paged list")
        count = page.paginator.count
        entries.append(Entry(spec.label, spec.url, spec.who, "list", admin=admin_first, rows=count))
        entries.append(Entry(f"{spec.label}, last page", _with(spec.url, page=page.number), spec.who, "last",
                             admin=admin_last, rows=count, page=page.number, repeat=page.number <= 1))
    missing = []
    for spec in details:
        if spec.url is None:
            missing.append(spec.label)
        else:
            entries.append(Entry(spec.label, spec.url, spec.who, "detail"))
    return entries + admin_entries, missing


def prepare() -> dict:
    """The users, the rows and the entries for this database (Django set up for it)."""
    from django.test.utils import setup_test_environment

    try:
        setup_test_environment()  # the test client then records each response's template context
    except RuntimeError:
        pass  # already set up (under pytest)
    from backoffice.services import dashboard_refresh
    from finance.services.aged_receivables import aged_receivables_refresh

    aged_receivables_refresh()  # today's aged receivables, as Celery beat keeps it (every 5 minutes)
    dashboard_refresh()  # the dashboard's scanning figures, as Celery beat keeps them (every 5 minutes)
    portal = portal_customer()
    users = ensure_users(portal)
    rows = find_rows(portal)
    clients = signed_in_clients(users)
    lists, details = page_specs(rows)
    entries, missing = build_entries(lists, details, clients)
    return {"entries": entries, "missing": missing, "users": users, "clients": clients, "rows": rows}


def select(entries: list[Entry], words: list[str]) -> list[Entry]:
    """The entries whose label has one of `words`, the baseline, and the admin changelists they compare with."""
    chosen = [e for e in entries if e.kind == "baseline" or (not e.kind.startswith("admin")
                                                               and any(w in e.label for w in words))]
    wanted = {e.admin for e in chosen}
    return [e for e in entries if e in chosen or e.label in wanted]


def count_queries(entries: list[Entry], clients: dict) -> dict[str, int]:
    """Queries of one request of each entry (after one warm-up request), in this process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts, failures = {}, []
    for e in entries:
        first = clients[e.who].get(e.url)
        if first.status_code != 200:
            failures.append(f"{e.label}: {e.url} answered {first.status_code}")
            continue
        with CaptureQueriesContext(connection) as ctx:
            clients[e.who].get(e.url)
        counts[e.label] = len(ctx.captured_queries)
    if failures:
        raise PageError("\n".join(failures))
    return counts


def session_cookies(clients: dict) -> dict[str, str]:
    return {who: f"sessionid={client.cookies['sessionid'].value}" for who, client in clients.items()}


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
    ensure_statement_lines(url, SMALL_STATEMENT_LINES)


def ensure_statement_lines(url: str, lines: int) -> None:
    """A reconcile inbox to measure: a statement of `lines` lines imported (bench/bank_import.py --fill) into a
    database that has none. The full database has bench.bank_import's (run_all.sh runs it first); the small one
    gets 1% of its 50,000, so the inbox's queries are counted at both sizes."""
    env = env_for(url)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    probe = subprocess.run([sys.executable, str(REPO / "manage.py"), "shell", "-c",
                            "from banking.models import StatementLine; print(StatementLine.objects.exists())"],
                           env=env, check=True, cwd=REPO, capture_output=True, text=True).stdout.strip().splitlines()
    if probe[-1:] != ["True"]:
        say(f"importing a {lines:,}-line statement into {urlparse(url).path.lstrip('/')} (bench/bank_import.py)")
        subprocess.run([sys.executable, "-m", "bench.bank_import", "--fill", f"--lines={lines}"], env=env,
                       check=True, cwd=REPO)
    # As bench/generate.py does for its tables: the lines' statistics and visibility map, which autovacuum keeps on a
    # production server (this one runs with autovacuum off). Without them the inbox's counts read every line from
    # the table instead of its index (an index-only scan visits the heap for each entry not marked all-visible),
    # and the planner, which saw an empty table, counts through a bitmap of every open line even under the cap.
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) banking_statementline, banking_suggestion")


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

    def add(self, other: LoadResult) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds
        self.size = other.size or self.size


def load(port: int, path: str, cookie: str, *, seconds: float, connections: int, warmup: float = 0.5) -> LoadResult:
    """`connections` threads, each sending one request after the other for warmup + seconds; the requests
    started after the warm-up are measured (their latency from send to last byte). A thread whose requests
    all started in the warm-up (a page slower than the warm-up under this load) sends one more, so every thread
    measures at least one request: a slow page takes a little longer rather than having no figures."""
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    result = LoadResult()
    lock = threading.Lock()
    last_end = [start_at]

    def worker() -> None:
        measured = False
        while True:
            began = time.perf_counter()
            if began >= stop_at and measured:
                return
            try:
                status, size = get(port, path, cookie)
            except OSError:
                status, size = 0, 0
            ended = time.perf_counter()
            if began < start_at:
                continue
            measured = True
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


# --- The tables -------------------------------------------------------------------------------------------
def shown_label(e: Entry) -> str:
    return f"{e.label} (p. {e.page:,})" if e.kind in ("last", "admin last") else e.label


def rows_cell(e: Entry) -> str:
    return "" if e.rows is None else f"{e.rows:,}"


def _met(value: float, target: float, above: bool) -> bool:
    """Whether a ratio meets its target; a ratio without figures (no request finished in the time) does not."""
    if value != value:  # NaN
        return False
    return value >= target if above else value <= target


def tables(entries: list[Entry], results: dict[str, LoadResult], alone: dict[str, float],
           small_counts: dict[str, int], full_counts: dict[str, int],
           connections: int) -> tuple[Table, Table, list[str]]:
    """The pages' table (each list beside admin's changelist of the same rows), the changelists' own table, and
    the summary against the targets."""
    p95 = {label: percentile(r.latencies, 95) for label, r in results.items()}
    base = entries[0].label
    pages = Table(
        title=f"Pages under load: gunicorn, {connections} connections, against a one-query view and Django admin's "
              "changelist of the same rows, in the same server and run",
        columns=["page", "p50 ms", "p95 ms", "req/s", "p95 / baseline p95", "admin p95 ms", "admin p95 / p95",
                 "alone ms", "queries (small -> full)", "constant", "rows", "KB", "errors"],
    )
    admin = Table(
        title="Django admin's changelists measured beside them (superuser, 100 rows a page)",
        columns=["changelist", "p50 ms", "p95 ms", "req/s", "alone ms", "queries (small -> full)", "rows", "KB",
                 "errors", "URL"],
    )
    counted, not_constant, errors = 0, [], []
    to_base: list[tuple[float, str]] = []  # (p95 / baseline p95, page)
    to_admin: list[tuple[float, str]] = []  # (admin p95 / p95, list)
    for e in entries:
        r = results[e.label]
        small_n, full_n = small_counts.get(e.label), full_counts.get(e.label)
        queries = f"{small_n if small_n is not None else '?'} -> {full_n}"
        if r.errors:
            errors.append(shown_label(e))
        if e.kind.startswith("admin"):
            admin.add(shown_label(e), median(r.latencies) * 1000, p95[e.label] * 1000, r.rps, alone[e.label] * 1000,
                      queries, rows_cell(e), r.size / 1024, str(r.errors), f"`{e.url}`")
            continue
        counted += 1
        constant = "?" if small_n is None else "yes" if small_n == full_n else "NO"
        if constant != "yes":
            not_constant.append(e.label + (" (no such row in the small database)" if small_n is None else ""))
        admin_p95 = p95.get(e.admin) if e.admin else None
        if e.kind != "baseline":
            to_base.append((p95[e.label] / p95[base], shown_label(e)))
            if admin_p95 is not None:
                to_admin.append((admin_p95 / p95[e.label], shown_label(e)))
        pages.add(shown_label(e), median(r.latencies) * 1000, p95[e.label] * 1000, r.rps, ratio(p95[e.label], p95[base]),
                  admin_p95 * 1000 if admin_p95 is not None else "",
                  ratio(admin_p95, p95[e.label]) if admin_p95 is not None else "",
                  alone[e.label] * 1000, queries, constant, rows_cell(e), r.size / 1024, str(r.errors))
    over = [label for value, label in to_base if not _met(value, TARGET_BASELINE, above=False)]
    under = [label for value, label in to_admin if not _met(value, TARGET_ADMIN, above=True)]
    worst = max(((v, label) for v, label in to_base if v == v), default=(float("nan"), "no figures"))
    least = min(((v, label) for v, label in to_admin if v == v), default=(float("nan"), "no figures"))
    summary = [
        f"queries constant in the data size: {counted - len(not_constant)} of {counted} pages"
        + (f" (not: {', '.join(not_constant)})" if not_constant else ""),
        f"p95 within {TARGET_BASELINE:g}x the one-query view's: {len(to_base) - len(over)} of {len(to_base)} pages "
        f"(worst: {worst[1]}, {worst[0]:.2f}x)" + (f"; not: {', '.join(over)}" if over else ""),
        f"p95 at least {TARGET_ADMIN:g}x below Django admin's changelist of the same rows: {len(to_admin) - len(under)} "
        f"of {len(to_admin)} lists (least: {least[1]}, {least[0]:.1f}x)" + (f"; not: {', '.join(under)}" if under else ""),
    ]
    if errors:
        summary.append(f"errors under load: {', '.join(errors)}")
    return pages, admin, summary


def main() -> None:
    try:
        run(sys.argv[1:])
    except PageError as exc:
        raise SystemExit(f"bench.pages: {exc}") from None


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6, help="measured seconds per page over all the rounds "
                        "(default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all the pages (default 3)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each page's measured "
                        "seconds in each round, not measured (default 0.5)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4: 2 x cores)")
    parser.add_argument("--only", default="", help="comma-separated words: measure only the pages whose label has "
                        "one (the baseline and the admin changelists they compare with are always measured)")
    parser.add_argument("--count-only", action="store_true", help=argparse.SUPPRESS)  # the small-size subprocess
    args = parser.parse_args(argv)
    run_started = time.monotonic()

    if args.count_only:
        setup(database_url())
        from bench._common import data_size_line

        prep = prepare()
        print(json.dumps({"counts": count_queries(prep["entries"], prep["clients"]), "size": data_size_line()}))
        return

    small_url = small_database_url()
    ensure_small_database(small_url)
    ensure_statement_lines(database_url(), FULL_STATEMENT_LINES)
    say("counting queries on the small database")
    small = json.loads(subprocess.run(
        [sys.executable, "-m", "bench.pages", "--count-only"], env=env_for(small_url), cwd=REPO, check=True,
        stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1])

    setup(database_url())
    from bench._common import data_size_line

    machine = machine_line()
    say("finding the pages and their last pages on the full database")
    prep = prepare()
    entries = prep["entries"]
    if args.only:
        entries = select(entries, [w.strip() for w in args.only.split(",") if w.strip()])
    sizes = data_size_line()
    say("counting queries on the full database")
    full_counts = count_queries(entries, prep["clients"])
    cookies = session_cookies(prep["clients"])
    from django.db import connections

    connections.close_all()

    measured = [e for e in entries if not e.repeat]
    per_round = args.seconds / args.rounds
    say(f"{len(measured)} pages x {args.rounds} rounds x ({per_round:.1f} s + {args.warmup:.1f} s warm-up): "
        f"{len(measured) * args.rounds * (per_round + args.warmup) / 60:.0f} min of load, plus each page's requests "
        "still in flight at its end")
    proc, port = start_gunicorn(args.workers)
    try:
        failures = [f"{e.label}: {e.url} answered {status} under gunicorn" for e in measured
                    if (status := get(port, e.url, cookies[e.who])[0]) != 200]
        if failures:
            raise SystemExit("\n".join(failures))
        # Rounds: every page (the baselines too) is measured in each round, so load that other work puts on
        # the machine falls on all of them alike instead of on whichever page was measured at that moment.
        results: dict[str, LoadResult] = {e.label: LoadResult() for e in measured}
        for n in range(1, args.rounds + 1):
            for i, e in enumerate(measured, start=1):
                say(f"round {n}/{args.rounds}, {i}/{len(measured)}: {e.label}")
                results[e.label].add(load(port, e.url, cookies[e.who], seconds=per_round,
                                          connections=args.connections, warmup=args.warmup))
        alone: dict[str, float] = {}
        for e in measured:  # one connection: what a request costs when it waits for nothing
            times = []
            for _ in range(5):
                started = time.perf_counter()
                get(port, e.url, cookies[e.who])
                times.append(time.perf_counter() - started)
            alone[e.label] = median(times)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    pages, admin, summary = tables(measured, results, alone, small["counts"], full_counts, args.connections)
    one_page = [e.label.removesuffix(", last page") for e in entries if e.repeat and e.kind == "last"]
    pages.notes = [
        machine,
        f"full database {sizes}; small database {small['size']} (bench/generate.py).",
        f"gunicorn {args.workers} sync workers, DEBUG off, persistent database connections; load generator: "
        f"{args.connections} Python threads, one request after another each, {args.seconds:g} s measured per page "
        f"in {args.rounds} rounds over all the pages ({args.warmup:g} s of warm-up before each), on the same 2 cores "
        "as the server and PostgreSQL.",
        "Lists: the first page (25 rows) with the filter named, then the last page (`?page=<last>`, p. = its "
        "number); rows = the rows the list holds. admin p95 = Django admin's changelist of the same rows (same "
        "model and filter, its ordering where admin's `o=` allows; 100 rows a page; its last page beside a last "
        "page), signed in as a superuser: table below. Aged receivables lists customers; admin's nearest is the "
        "open receivable invoices it sums. The portal's payments list unions card payments, allocations and "
        "top-ups; admin's nearest is the customer's allocations. Organizations lists every customer; admin's "
        "payment settings only those that have them.",
        f"The run took {(time.monotonic() - run_started) / 60:.1f} min (counting, load and the one-connection requests).",
        "alone: median of 5 requests on one connection after the load (no queueing): the cost of the page itself.",
        "Queries: one request of each page after a warm-up request, counted with CaptureQueriesContext "
        "(session and user lookups included).",
        *([f"Lists on one page (their last page is the first): {', '.join(one_page)}."] if one_page else []),
        *([f"Not measured (no such row in this database): {', '.join(prep['missing'])}."] if prep["missing"] else []),
        f"Targets (issue 20): queries constant in the data size; p95 within {TARGET_BASELINE:g}x the one-query "
        f"view's; each list at least {TARGET_ADMIN:g}x faster (p95) than Django admin's changelist of the same rows.",
        *(f"Result: {line}." for line in summary),
    ]
    text = pages.render() + "\n" + admin.render()
    print(text, flush=True)
    from bench._common import RESULTS

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pages.md").write_text(text)
    for line in summary:
        say(line)


if __name__ == "__main__":
    main()
