"""Reads of the audit trail: the staff Audit page, the customer page's Audit tab and the portal's audit
section all list events through `audit_events`, and render them with templates/audit/_event_table.html."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db.models import BigIntegerField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from common.ids import parse_id

from .models import AuditEvent

# Events about the customer record itself carry its display name ("Name (CODE)") in object_repr: the
# audit app reads customer names from its own rows, since the customers app sits above it.
CUSTOMER_OBJECT_TYPE = "customers.customer"


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def customer_ids_matching(text: str) -> QuerySet:
    """Ids of customers whose name or code contains `text`, as recorded in their own audit events."""
    return (
        AuditEvent.objects.filter(object_type=CUSTOMER_OBJECT_TYPE, object_repr__icontains=text,
                                  object_id__regex=r"^[0-9]{1,18}$")
        .annotate(cid=Cast("object_id", BigIntegerField()))
        .values("cid")
    )


def customer_matching(text: str) -> Q:
    """An id when all digits, else part of the customer's name or code."""
    text = text.strip()
    if parse_id(text):
        return Q(customer_id=parse_id(text))
    return Q(customer_id__in=customer_ids_matching(text)) if text else Q()


def action_matching(action: str) -> Q:
    """The action, or a dotted prefix of it ("finance.payment" matches "finance.payment.allocate")."""
    action = action.strip().rstrip(".")
    return Q(action=action) | Q(action__startswith=f"{action}.")


def occurred_from(start: dt.date | dt.datetime) -> Q:
    """From a day's start in the operator's time zone (or an exact datetime)."""
    return Q(occurred_at__gte=start if isinstance(start, dt.datetime) else _day_start(start))


def occurred_to(end: dt.date | dt.datetime) -> Q:
    """Up to a day's end in the operator's time zone (or an exact datetime)."""
    if isinstance(end, dt.datetime):
        return Q(occurred_at__lte=end)
    return Q(occurred_at__lt=_day_start(end + dt.timedelta(days=1)))


def search_matching(search: str) -> Q:
    """Part of the actor, action, object, object id, reason or request id; or an event id."""
    search = search.strip()
    match = (
        Q(actor_label__icontains=search) | Q(action__icontains=search) | Q(object_repr__icontains=search)
        | Q(object_id=search) | Q(reason__icontains=search) | Q(request_id=search)
    )
    if parse_id(search):
        match |= Q(id=parse_id(search))
    return match


def audit_events(
    *,
    app: str | None = None,
    customer_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    date_from: dt.date | dt.datetime | None = None,
    date_to: dt.date | dt.datetime | None = None,
    search: str | None = None,
    customer: str | None = None,
    actor_kind: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
) -> QuerySet[AuditEvent]:
    """Events, newest first, narrowed by every filter given (None or "" means no filter).

    - app: exact (customers, invoices, finance, portal, settings, access);
    - customer_id: exact; customer: free text, an id when all digits, else part of the name or code;
    - actor: exact actor label (username, job name, "stripe"); actor_kind: staff, customer, system...;
    - action: exact or a dotted prefix ("finance.payment" matches "finance.payment.allocate");
    - date_from / date_to: inclusive days in the operator's time zone (or exact datetimes);
    - search: part of the actor, action, object, object id, reason or request id; or an event id."""
    qs = AuditEvent.objects.all()
    if app:
        qs = qs.filter(app=app)
    if customer_id not in (None, ""):
        qs = qs.filter(customer_id=int(customer_id))
    if customer:
        qs = qs.filter(customer_matching(customer))
    if actor:
        qs = qs.filter(actor_label=actor.strip())
    if actor_kind:
        qs = qs.filter(actor_kind=actor_kind)
    if action:
        qs = qs.filter(action_matching(action))
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id not in (None, ""):
        qs = qs.filter(object_id=str(object_id))
    if date_from:
        qs = qs.filter(occurred_from(date_from))
    if date_to:
        qs = qs.filter(occurred_to(date_to))
    if search:
        qs = qs.filter(search_matching(search))
    return qs.order_by("-id")


def customer_labels(customer_ids: Iterable[int | None]) -> dict[int, str]:
    """{customer id: "Name (CODE)"} from the latest event about each customer record (one query)."""
    ids = sorted({int(i) for i in customer_ids if i is not None})
    if not ids:
        return {}
    rows = (
        AuditEvent.objects.filter(object_type=CUSTOMER_OBJECT_TYPE, object_id__in=[str(i) for i in ids])
        .order_by("object_id", "-id")
        .distinct("object_id")
        .values_list("object_id", "object_repr")
    )
    return {int(object_id): label for object_id, label in rows if label}


def attach_customer_labels(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Set `customer_label` on each event of a page (one query for the page, whatever its size)."""
    events = list(events)
    labels = customer_labels(e.customer_id for e in events)
    for event in events:
        event.customer_label = labels.get(event.customer_id, "") if event.customer_id is not None else ""
    return events


# --- Readable diff ----------------------------------------------------------------------------------
class DiffRow(NamedTuple):
    field: str
    before: str | None  # display text; None when the field was absent before
    after: str | None  # display text; None when the field is absent after
    change: str  # "added", "removed" or "changed"
    amount: bool = False  # both sides are amounts: the page shows them as money is shown (`money`), not raw


# How an amount reaches the audit trail: audit_record stores a Decimal as its text, a database value with its
# six places ("1000.000000"). The stored text is kept as it is; pages format it (issue 23).
# At most NUMERIC(20,6)'s 14 whole digits: any longer text is not a stored amount (and could not be formatted).
_AMOUNT_TEXT = re.compile(r"-?[0-9]{1,14}\.[0-9]{1,6}")


def is_amount_text(value: Any) -> bool:
    return isinstance(value, str) and _AMOUNT_TEXT.fullmatch(value) is not None


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted fields ({"settings": {"limit": 5}} -> {"settings.limit": 5})."""
    if not isinstance(data, dict):
        return {prefix or "value": data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def display_value(value: Any) -> str:
    """How a stored before/after value reads on a page: text as is, empty as "(empty)", others as JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value if value != "" else "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def diff_rows(event: AuditEvent) -> list[DiffRow]:
    """The fields an event changed, in field order: added (only after), removed (only before) or changed
    (both, different). Fields present on both sides with the same value are left out."""
    before = _flatten(event.before or {})
    after = _flatten(event.after or {})
    rows: list[DiffRow] = []
    for name in sorted(before.keys() | after.keys()):
        if name in before and name in after:
            if before[name] == after[name]:
                continue
            rows.append(DiffRow(name, display_value(before[name]), display_value(after[name]), "changed",
                                is_amount_text(before[name]) and is_amount_text(after[name])))
        elif name in after:
            rows.append(DiffRow(name, None, display_value(after[name]), "added", is_amount_text(after[name])))
        else:
            rows.append(DiffRow(name, display_value(before[name]), None, "removed", is_amount_text(before[name])))
    return rows
