"""Bench 5, the usage API: reserve + commit over HTTP, against pgbench and the services in process, in one run.

One operation = what the telephony platform does for one call, through the API (docs/api.md):
`POST /api/v1/customers/{code}/reservations {"amount": "1.00"}` then `POST /api/v1/reservations/{id}/commit
{"amount": "0.75"}`, each with its own Idempotency-Key and the Bearer key: authentication (the key's hash looked
up), the rate limit's round trip to Redis, the Idempotency-Key's row in the same transaction as the effect, the
service's transaction, JSON in and out.

The app is served by gunicorn with the settings that ship (bench/_common.py: bench_env; persistent database
connections, CONN_MAX_AGE 600) and gthread workers (sync workers close every connection; the platform keeps
its connections open). N client processes (1 and 8), each on its own customer with one keep-alive HTTP/1.1
connection (http.client: the lightest client, so the client's CPU takes as little of the 2 cores as it can),
post operations for a fixed time. In the same run, on the same database:
  - pgbench's TPC-B-like script with the same -c/-j for the same time (the baseline of every ledger bench), and
  - the same reserve + commit through the services in process (`reservation_reserve`, `reservation_commit`,
    as bench/ledger_posting.py calls them), N processes: what HTTP and the API layer cost on top.
Then one client's operations in process through Django's test client under cProfile: where an API call's time
goes (authentication, rate limit, idempotency record, the service's transaction, the rest of the request).

    python -m bench.api_posting [--clients 1,8] [--seconds 20] [--workers 2] [--threads 4] [--profile-ops 300]

The database is BENCH_DATABASE_URL (default ledgerdesk_bench, as the other benches); it is created and migrated
when it does not exist. Only the bench customers' rows are read and written (BENCH-POST-01..; made by
bench/ledger_posting.py's bench_customers), so the run does not need the generated data.
Target (issue 21): API ops/s >= 0.25 x pgbench tps at 8 clients on this 2-core machine.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import multiprocessing as mp
import os
import pstats
import socket
import subprocess
import sys
import time
import uuid
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
    setup_django,
)
from bench.ledger_posting import FINAL, RESERVE, bench_customers, pgbench_binary, pgbench_init, pgbench_run

TARGET = 0.25
KEY_NAME = "bench-api"
OPS = ("reserve", "commit")
# The bench measures the rate limit's cost (its Redis round trip), not its refusals.
RATE_LIMIT, NO_LIMIT = "LEDGERDESK_API_RATE_LIMIT", str(10**9)


# --- The database and the key -------------------------------------------------------------------------------
def ensure_database() -> None:
    """The bench database, created the first time and migrated (the reservation functions change with the code)."""
    import psycopg

    url = urlparse(database_url())
    name = url.path.lstrip("/")
    with psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            say(f"creating the database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, str(REPO / "manage.py"), "migrate", "-v0"], env=bench_env(), check=True,
                   cwd=REPO)


def bench_key() -> str:
    """A new key with the usage:write scope (the earlier bench keys revoked: each run makes its own)."""
    from django.utils import timezone

    from api.models import ApiKey, Scope
    from api.services import api_key_create, api_key_revoke
    from audit.actors import Actor

    actor = Actor.system("bench")
    for key_id in ApiKey.objects.filter(name=KEY_NAME, revoked_at__isnull=True).values_list("pk", flat=True):
        api_key_revoke(key_id=key_id, actor=actor, at=timezone.now(), reason="a new bench run")
    _, plain = api_key_create(name=KEY_NAME, scopes=[Scope.USAGE_WRITE, Scope.USAGE_READ], actor=actor,
                              at=timezone.now())
    return plain


# --- gunicorn ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """The app under gunicorn, gthread workers (keep-alive), the shipped settings."""
    port = free_port()
    binary = REPO / ".venv" / "bin" / "gunicorn"
    cmd = [str(binary) if binary.exists() else "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30",
           "--timeout", "120", "--backlog", "256", "--log-level", "warning",
           "--preload"]  # Django loaded once, before the workers fork: every worker answers from the start
    env = {**bench_env(), RATE_LIMIT: NO_LIMIT}
    # Its own session, as a server runs: Linux's autogroup scheduler (kernel.sched_autogroup_enabled) shares the
    # CPU between sessions, so in the bench's session gunicorn would share one slice with the load generator
    # (the PostgreSQL backends have theirs, as pgbench's and the services' database work does).
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/openapi.json", headers={"Host": "127.0.0.1"})
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not start within 60 s")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- The HTTP clients ------------------------------------------------------------------------------------------
class ApiClient:
    """One keep-alive HTTP/1.1 connection to the API with the key."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Host": "127.0.0.1"}

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        self.conn.request("POST", f"/api/v1{path}", body=json.dumps(body), headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}

    def operation(self, code: str) -> tuple[float, float]:
        """reserve + commit; their latencies (s). Raises on anything but 201 / 200."""
        began = time.perf_counter()
        status, body = self.post(f"/customers/{code}/reservations", {"amount": str(RESERVE), "reference": "bench call"})
        reserved = time.perf_counter()
        if status != 201:
            raise RuntimeError(f"reserve answered {status}: {body}")
        status, body = self.post(f"/reservations/{body['id']}/commit", {"amount": str(FINAL)})
        if status != 200:
            raise RuntimeError(f"commit answered {status}: {body}")
        return reserved - began, time.perf_counter() - reserved

    def close(self) -> None:
        self.conn.close()


@dataclass
class Result:
    ops: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else float("nan")

    def add(self, other: tuple) -> None:
        ops, latencies, errors = other
        self.ops += ops
        for op in OPS:
            self.latencies[op] += latencies[op]
        self.errors += errors

    def p(self, op: str, pct: float) -> float:
        values = self.latencies[op]
        return (median(values) if pct == 50 else percentile(values, pct)) * 1000


def _http_worker(port: int, key: str, code: str, start_at: float, stop_at: float, results) -> None:
    latencies: dict[str, list[float]] = {op: [] for op in OPS}
    done, errors = 0, []
    client = ApiClient(port, key)
    try:
        while (began := time.perf_counter()) < stop_at:
            try:
                reserve, commit = client.operation(code)
            except (OSError, RuntimeError, http.client.HTTPException) as exc:
                errors.append(str(exc)[:200])
                client.close()
                client = ApiClient(port, key)
                continue
            if start_at <= began and time.perf_counter() < stop_at:
                done += 1
                latencies["reserve"].append(reserve)
                latencies["commit"].append(commit)
    finally:
        client.close()
    results.put((done, latencies, errors))


def _service_worker(customer_id: int, start_at: float, stop_at: float, results) -> None:
    from django.db import connection
    from django.utils import timezone

    from audit.actors import Actor
    from customers.services import reservation_commit, reservation_reserve

    actor = Actor.system("bench api posting")
    latencies: dict[str, list[float]] = {op: [] for op in OPS}
    done = 0
    try:
        while (began := time.perf_counter()) < stop_at:
            r = reservation_reserve(customer_id=customer_id, amount=RESERVE, actor=actor, at=timezone.now(),
                                    reference="bench call")
            reserved = time.perf_counter()
            reservation_commit(reservation_id=r.pk, amount=FINAL, actor=actor, at=timezone.now())
            ended = time.perf_counter()
            if start_at <= began and ended < stop_at:
                done += 1
                latencies["reserve"].append(reserved - began)
                latencies["commit"].append(ended - reserved)
    finally:
        connection.close()
    results.put((done, latencies, []))


def run_clients(target, args_per_client: list[tuple], seconds: float, warmup: float) -> Result:
    """One forked process per client running `target(*args, start_at, stop_at, queue)`."""
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    procs = [ctx.Process(target=target, args=(*a, start_at, stop_at, queue)) for a in args_per_client]
    for p in procs:
        p.start()
    result = Result(seconds=seconds)
    for _ in procs:
        result.add(queue.get())
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a bench process failed (exit {p.exitcode})")
    return result


# --- Where the time goes -----------------------------------------------------------------------------------
def profile(key: str, code: str, ops: int) -> tuple[Table, dict[str, int]]:
    """`ops` reserve + commit through Django's test client (the whole middleware stack, no socket) under
    cProfile: each part's cumulative time per operation, and the statements each request runs."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")

    def post(path: str, body: dict):
        return client.post(f"/api/v1{path}", data=json.dumps(body), content_type="application/json",
                           headers={"Idempotency-Key": uuid.uuid4().hex})

    def operation() -> None:
        r = post(f"/customers/{code}/reservations", {"amount": str(RESERVE), "reference": "bench call"})
        assert r.status_code == 201, r.content
        c = post(f"/reservations/{r.json()['id']}/commit", {"amount": str(FINAL)})
        assert c.status_code == 200, c.content

    for _ in range(20):  # warm: connections, caches, the key's last_used_at
        operation()
    statements = {}
    with CaptureQueriesContext(connection) as ctx:
        r = post(f"/customers/{code}/reservations", {"amount": str(RESERVE), "reference": "bench call"})
    statements["reserve"] = len(ctx.captured_queries)
    with CaptureQueriesContext(connection) as ctx:
        post(f"/reservations/{r.json()['id']}/commit", {"amount": str(FINAL)})
    statements["commit"] = len(ctx.captured_queries)

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(ops):
        operation()
    profiler.disable()
    wall = (time.perf_counter() - started) / ops * 1000
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def ms(*functions: str) -> float:
        """Cumulative ms per operation of the functions named "path/suffix.py:name"."""
        total = 0.0
        for function in functions:
            suffix, name = function.split(":")
            total += sum(ct for (file, _, func), (_, _, _, ct, _) in stats.items()
                         if file.endswith(suffix) and func == name)
        return total / ops * 1000

    service = ms("customers/services/reservations.py:reservation_reserve",
                 "customers/services/reservations.py:reservation_commit")
    body = ms("api/v1.py:_done_body")
    limit = ms("api/ratelimit.py:check")
    rows = [
        ("authentication: the key's row by its hash, one SQL statement (+ last_used_at, once a minute)",
         ms("api/auth.py:authenticate") - limit),
        ("rate limit: INCR + EXPIRE, one Redis round trip", limit),
        ("idempotency and the transaction: BEGIN, the reply's record (INSERT ... ON CONFLICT), COMMIT (its WAL flush)",
         ms("api/idempotency.py:run") - service - body),
        ("the service: reservation_reserve / reservation_commit (one statement each: the PL/pgSQL function, the "
         "customer found by its code, its figures returned)", service),
        ("the reply's body (pydantic)", body),
    ]
    rows.append(("the rest: Django's request cycle and middleware, django-ninja's parsing and validation, JSON, "
                 "the test client", wall - sum(value for _, value in rows)))
    table = Table(title="Where an API operation's time goes: reserve + commit in process (Django's test client, "
                        f"no socket), one client, cProfile over {ops:,} operations",
                  columns=["part", "ms per operation", "share"])
    for label, value in rows:
        table.add(label, value, f"{value / wall:.0%}" if wall else "n/a")
    table.add("total (wall, profiler on)", wall, "100%")
    return table, statements


# --- main ------------------------------------------------------------------------------------------------------
def run(*, clients: list[int], seconds: float, warmup: float, workers: int, threads: int, profile_ops: int,
        pgbench: bool = True) -> tuple[Table, Table]:
    """The measurements (Django set up on the bench database): the main table and the profile's."""
    machine = machine_line()
    binary = None
    if pgbench:
        binary = pgbench_binary()
        pgbench_init(binary)
    customer_ids, _ = bench_customers(max(clients))
    from customers.models import Customer

    codes = dict(Customer.objects.filter(pk__in=customer_ids).values_list("pk", "code"))
    key = bench_key()

    table = Table(
        title="Usage API: reserve + commit over HTTP (gunicorn, keep-alive clients) vs pgbench TPC-B-like and the "
              "same operations through the services in process (same database, same run)",
        columns=["clients", "pgbench tps", "API ops/s", "ratio to pgbench", "reserve p50 ms", "reserve p95 ms",
                 "commit p50 ms", "commit p95 ms", "services ops/s", "services ratio", "API / services",
                 "services reserve p50 ms", "services commit p50 ms", "errors"],
    )
    results: dict[int, tuple[float, Result, Result]] = {}
    proc, port = start_gunicorn(workers, threads)
    try:
        for n in clients:
            tps = float("nan")
            if binary:
                say(f"{n} client(s): pgbench tpcb-like")
                tps = pgbench_run(binary, n, max(1, round(seconds)))
            say(f"{n} client(s): the API over HTTP")
            api = run_clients(_http_worker, [(port, key, codes[cid]) for cid in customer_ids[:n]], seconds, warmup)
            say(f"{n} client(s): the services in process")
            services = run_clients(_service_worker, [(cid,) for cid in customer_ids[:n]], seconds, warmup)
            results[n] = (tps, api, services)
            table.add(str(n), tps, api.rate, ratio(api.rate, tps), api.p("reserve", 50), api.p("reserve", 95),
                      api.p("commit", 50), api.p("commit", 95), services.rate, ratio(services.rate, tps),
                      ratio(api.rate, services.rate), services.p("reserve", 50), services.p("commit", 50),
                      str(len(api.errors)))
            for error in api.errors[:3]:
                say(f"error: {error}")
    finally:
        stop_gunicorn(proc)

    say("where the time goes: in process under cProfile")
    parts, statements = profile(key, codes[customer_ids[0]], profile_ops)
    top = max(clients)
    tps, api, _ = results[top]
    met = ratio(api.rate, tps)
    verdict = "not measured" if met == "n/a" else ("met" if float(met) >= TARGET else "NOT met")
    table.notes = [
        machine,
        f"{seconds:g} s measured per cell after a {warmup:g} s warm-up. gunicorn {workers} gthread worker(s) x "
        f"{threads} threads, the shipped settings (DEBUG off, CONN_MAX_AGE 600, health checks), rate limit counted "
        "in Redis as in production (its limit raised so it never refuses). Each client is a forked process with one "
        "keep-alive HTTP/1.1 connection (http.client), on its own customer.",
        f"One operation = POST reservations ({RESERVE}) + POST commit ({FINAL}), each with a new Idempotency-Key: "
        f"{statements['reserve']} and {statements['commit']} SQL statements in process (BEGIN and COMMIT included; under "
        "gunicorn one more each, the connection's health check). "
        "Services: reservation_reserve + reservation_commit called in process by as many processes. One pgbench "
        "transaction = 5 statements (TPC-B-like, scale 10).",
        f"Target (issue 21): API ops/s >= {TARGET} x pgbench tps at 8 clients: at {top} client(s) {met}, {verdict}.",
    ]
    return table, parts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,8", help="comma-separated client counts (default 1,8)")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per cell (default 20)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each cell (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--profile-ops", type=int, default=300, help="operations profiled in process (default 300)")
    parser.add_argument("--name", default="api_posting", help="bench/results/<name>.md (default api_posting)")
    args = parser.parse_args(argv)

    os.environ[RATE_LIMIT] = NO_LIMIT  # for the profile in this process; gunicorn gets it too
    ensure_database()
    setup_django()
    table, parts = run(clients=[int(c) for c in args.clients.split(",")], seconds=args.seconds, warmup=args.warmup,
                       workers=args.workers, threads=args.threads, profile_ops=args.profile_ops)
    from django.db import connection

    connection.close()
    table.emit(args.name)
    parts.emit(f"{args.name}_profile")


if __name__ == "__main__":
    main()
