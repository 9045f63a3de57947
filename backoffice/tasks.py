"""The back office's Celery tasks: one service call each."""

from __future__ import annotations

from celery import shared_task

from .services import dashboard_refresh


@shared_task(name="backoffice.tasks.refresh_dashboard", acks_late=True)
def refresh_dashboard() -> str:
    """Refresh the dashboard's snapshot (every 5 minutes, CELERY_BEAT_SCHEDULE "refresh-dashboard"). Safe at any
    time and twice at once. Returns when the figures were taken (ISO 8601)."""
    return dashboard_refresh().taken_at.isoformat()
