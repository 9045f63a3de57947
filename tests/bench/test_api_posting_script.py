"""bench/api_posting.py in a tiny mode on the test database: gunicorn serves the API, one keep-alive client
reserves and commits over HTTP, the services do the same in process, and the profile accounts for an
operation, so a change of the API (a path, a field, a status) breaks this test and not the next bench run."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from bench import api_posting
from customers.models import Reservation, ReservationStatus

pytestmark = pytest.mark.django_db(transaction=True)  # gunicorn and the forked clients must see the rows


@pytest.fixture
def bench_database(monkeypatch):
    """The bench's own processes (gunicorn, the forked clients) on the test database and Redis."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    monkeypatch.setenv("BENCH_DATABASE_URL", url)
    monkeypatch.setenv("BENCH_REDIS_URL", settings.REDIS_URL)


def test_a_tiny_run_measures_every_cell(bench_database):
    table, parts = api_posting.run(clients=[1], seconds=1.5, warmup=0.5, workers=1, threads=2, profile_ops=3,
                                   pgbench=False)
    (row,) = table.rows
    cells = dict(zip(table.columns, row, strict=True))
    assert cells["errors"] == "0", cells
    assert float(cells["API ops/s"]) > 0 and float(cells["services ops/s"]) > 0, cells
    assert cells["reserve p50 ms"] != "n/a" and cells["commit p50 ms"] != "n/a", cells
    assert "Target (issue 21)" in table.notes[-1]
    # every operation posted its charge: committed, 0.75 charged of the 1.00 reserved
    committed = Reservation.objects.filter(status=ReservationStatus.COMMITTED)
    assert committed.exists() and not Reservation.objects.filter(status=ReservationStatus.OPEN).exists()
    assert {str(r.committed_amount) for r in committed} == {"0.750000"}
    labels = [r[0] for r in parts.rows]
    assert labels[-1].startswith("total") and any(label.startswith("the service") for label in labels)
    shares = {r[0]: float(r[1].replace(",", "")) for r in parts.rows}
    assert all(value >= 0 for label, value in shares.items() if not label.startswith("the rest")), shares
