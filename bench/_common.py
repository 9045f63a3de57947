"""What every bench script shares: the bench database and Django set-up, timing helpers, percentiles, the
machine's state, and printing one Markdown table whose figures are ratios against a baseline measured in
the same run (so a slower or busier machine moves both sides, and the ratio stays meaningful).

Environment:
    BENCH_DATABASE_URL  the bench database (default postgres://postgres@127.0.0.1:5432/ledgerdesk_bench).
                        Never point it at a database with real data: the benches write to it.
    BENCH_REDIS_URL     Redis for the jobs' Celery messages (default redis://127.0.0.1:6379/7).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ledgerdesk_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def bench_env() -> dict[str, str]:
    """The environment a bench process (Django, gunicorn, manage.py) runs with: production settings
    (DEBUG off, so Django keeps no query log), the bench database and Redis db, no TLS redirect. The database
    connection settings are the shipped defaults (config/settings.py: CONN_MAX_AGE 600 + health checks),
    whatever the calling shell holds."""
    env = dict(os.environ)
    for name in ("DATABASE_CONN_MAX_AGE", "DATABASE_CONN_HEALTH_CHECKS"):
        env.pop(name, None)
    env.update({
        "DATABASE_URL": database_url(),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key"),
        "DJANGO_DEBUG": "0",
        "LEDGERDESK_ENV": "test",  # production settings; the fake secrets may stand in (config/environment.py)
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "ERROR",
    })
    return env


def setup_django() -> None:
    """Configure this process for the bench database and start Django."""
    os.environ.update(bench_env())
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def pg_args() -> list[str]:
    """-h/-p/-U/dbname for the PostgreSQL client tools (psql, pgbench) from the bench URL."""
    url = urlparse(database_url())
    args = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    return [*args, url.path.lstrip("/")]


def pg_env() -> dict[str, str]:
    env = dict(os.environ)
    password = urlparse(database_url()).password
    if password:
        env["PGPASSWORD"] = password
    return env


def find_binary(name: str, candidates: Iterable[str] = ()) -> str | None:
    """A PostgreSQL client tool: PATH first, then Debian's versioned directories, then the pgserver wheel."""
    import shutil

    found = shutil.which(name)
    if found:
        return found
    paths = [*candidates, *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)]
    try:
        import pgserver  # type: ignore[import-not-found]

        paths.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    for path in paths:
        if Path(path).exists():
            return str(path)
    return None


# --- Timing ----------------------------------------------------------------------------------------------
@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextmanager
def timed() -> Iterable[Stopwatch]:
    watch = Stopwatch()
    started = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - started


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(round(pct / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- The machine ------------------------------------------------------------------------------------------
def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def machine_line() -> str:
    """One line saying where and when the figures were measured, with the load other work put on it."""
    cores = os.cpu_count() or 0
    try:
        mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GB"
    except (OSError, StopIteration, ValueError):
        mem = "? GB"
    one, five, _ = load_average()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = "?"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}, commit {commit or '?'}, {platform.machine()} {cores} cores, {mem} RAM, "
            f"load average {one:.2f} (1 min) / {five:.2f} (5 min) at the start")


def data_size_line() -> str:
    """The size of the bench data (Django must be set up)."""
    from django.db import connection

    tables = [("customers", "customers_customer"), ("transactions", "customers_transaction"),
              ("invoices", "invoices_invoice"), ("payments", "finance_payment")]
    parts = []
    with connection.cursor() as cursor:
        for label, table in tables:
            # reltuples is the planner's estimate; exact counts of 2M rows would take seconds.
            cursor.execute("SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE relname = %s", [table])
            row = cursor.fetchone()
            parts.append(f"{(row[0] if row else 0):,} {label}")
    return "data: ~" + ", ".join(parts)


# --- Tables -----------------------------------------------------------------------------------------------
def ratio(value: float, baseline: float) -> str:
    if not baseline or value != value or baseline != baseline:  # zero or NaN
        return "n/a"
    return f"{value / baseline:.2f}"


def fmt(value: float | int | str | None, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


@dataclass
class Table:
    """One Markdown table: a title, the columns, rows of cells, and notes printed under it."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def render(self) -> str:
        widths = [max(len(str(c)) for c in col) for col in zip(self.columns, *self.rows, strict=False)]
        right = [i > 0 for i in range(len(self.columns))]

        def line(cells: Sequence[str]) -> str:
            padded = [str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
            return "| " + " | ".join(padded) + " |"

        rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right,
                                                                                               strict=True)) + "|"
        out = [f"### {self.title}", "", line(self.columns), rule, *(line(r) for r in self.rows)]
        if self.notes:
            out.append("")
            out.extend(f"- {n}" for n in self.notes)
        return "\n".join(out) + "\n"

    def emit(self, name: str) -> str:
        """Print the table and keep it in bench/results/<name>.md (run_all.sh gathers them)."""
        text = self.render()
        print(text, flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{name}.md").write_text(text)
        return text


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
