"""The staff Audit page: filters, search, pagination, CSV export and an HTMX partial for the table."""

from __future__ import annotations

import datetime as dt
import json

from django.views.decorators.http import require_GET

from common.lists import (
    csv_filename,
    csv_response,
    csv_text,
    htmx_page,
    iterate,
    paginate,
    querystring_without_page,
    wants_csv,
)
from common.permissions import staff_view

from . import selectors
from .filters import AuditFilterSet
from .models import AuditEvent

CSV_HEADER = [
    "id", "occurred_at_utc", "actor_kind", "actor", "actor_user_id", "app", "action", "object_type",
    "object_id", "object", "customer_id", "before", "after", "reason", "request_id", "ip", "user_agent",
    "chain", "seq", "prev_hash", "hash",
]


def _csv_row(e: AuditEvent) -> list:
    return [
        e.pk, e.occurred_at.astimezone(dt.UTC).isoformat(), e.actor_kind, csv_text(e.actor_label),
        e.actor_user_id if e.actor_user_id is not None else "", e.app, e.action, e.object_type,
        csv_text(e.object_id), csv_text(e.object_repr), e.customer_id if e.customer_id is not None else "",
        json.dumps(e.before, sort_keys=True), json.dumps(e.after, sort_keys=True), csv_text(e.reason),
        csv_text(e.request_id), e.ip or "", csv_text(e.user_agent), e.chain, e.seq, e.prev_hash,
        e.hash,
    ]


@require_GET
@staff_view("audit.view_auditevent")
def event_list(request):
    filters = AuditFilterSet(request.GET, selectors.audit_events())
    events = filters.qs
    if wants_csv(request):
        return csv_response(csv_filename("audit"), CSV_HEADER, iterate(events, _csv_row))
    page = paginate(request, events)
    page.object_list = selectors.attach_customer_labels(page.object_list)
    context = {"form": filters.form, "page": page, "sort": filters.current_sort, "qs": querystring_without_page(request)}
    return htmx_page(request, "audit/auditevent_list.html", "events-table", context)
