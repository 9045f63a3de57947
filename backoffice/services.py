"""The dashboard's snapshot, refreshed (backoffice.selectors.SNAPSHOT says which figures and why)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .models import DashboardSnapshot
from .selectors import SNAPSHOT, figure_rows

AUDIT_EXEMPT = {
    "dashboard_refresh": "recomputes the dashboard's cached figures from the rows; changes no money, setting or "
                         "document, so there is nothing to audit",
}


@transaction.atomic
def dashboard_refresh(*, now: dt.datetime | None = None) -> DashboardSnapshot:
    """Query the scanning figures now, by the dashboard's own queries (selectors.figure_rows), for the operator's
    today, and keep them as the latest snapshot (older ones deleted). Called by Celery beat every 5 minutes
    (backoffice.tasks.refresh_dashboard) and by the dashboard's Refresh button. Safe at any time and twice at once
    (the page reads the latest taken). About 250 ms at 100,000 customers (SNAPSHOT's figures)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    snapshot = DashboardSnapshot.objects.create(day=today, taken_at=now, figures=figure_rows(SNAPSHOT, today, now))
    DashboardSnapshot.objects.filter(taken_at__lt=snapshot.taken_at).delete()
    return snapshot
