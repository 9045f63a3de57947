"""The one way to record an audit event. Every write service in every app calls `audit_record` inside
its own transaction, so there is no change without its event and no event without its change.

An event is appended unsealed (issue 24; docs/audit.md): the insert trigger of audit_auditevent puts it in its
customer's chain (customer id % AUDIT_CHAINS; chain 0 without one) and takes no lock, so audited changes
never wait for one another on a chain head. `audit.sealing.seal_events` (the beat task
audit.tasks.seal_audit_trail, every 30 s) seals the committed events into their chains: seq = that chain's
head + 1, prev_hash = the head's hash, hash = sha256(prev_hash | canonical content), computed by the SQL
function audit_canonical; and anchors the heads outside the database. `audit_record` is one INSERT ...
RETURNING; the event it returns has chain set and seq, prev_hash and hash None. PL/pgSQL services
(customers' reservations) insert their event the same way.

Canonical content: `jsonb_build_object` of the hashed fields as text (jsonb orders keys by length, then
bytes), occurred_at in UTC with microseconds, the IP as host() prints it. Before/after are converted to
plain JSON values before the row is written (Decimal -> str, datetime/date/time -> ISO string,
model -> pk, float -> its repr as a string, since jsonb rewrites numbers such as 1e+20), text loses NUL
characters (PostgreSQL refuses them). `compute_hash` asks the same SQL function about values held in Python
(tests/audit/test_hashing.py)."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.functional import Promise

from .actors import Actor, ActorKind
from .models import AuditApp, AuditEvent

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "occurred_at", "actor_kind", "actor_label", "actor_user_id", "app", "action", "object_type",
    "object_id", "object_repr", "customer_id", "before", "after", "reason", "request_id", "ip",
    "user_agent",
)

# Functions here that the audit walk (tests/audit/test_every_service_audits.py) must not treat as
# state-changing services, each with the reason.
AUDIT_EXEMPT = {
    "audit_record": "the primitive every service calls to write its one event; not a change of its own",
    "audit_record_many": "the primitive a batch job calls to write its services' events in one statement",
    "compute_hash": "pure function: the chain hash of an event",
    "audit_actor_columns": "pure function: an actor's validated columns for a service that audits in SQL",
}

_ACTOR_KINDS = {kind for kind, _ in ActorKind.CHOICES}
_APPS = set(AuditApp.values)


class AuditError(ValueError):
    """An audit event that cannot be written as asked (a programming error in the calling service)."""


# --- Canonical values --------------------------------------------------------------------------------
def _text(value: Any, max_length: int | None = None) -> str:
    """A string PostgreSQL accepts (no NUL, valid UTF-8), cut to the column's length."""
    text = "" if value is None else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:max_length] if max_length is not None else text


def _jsonable(value: Any) -> Any:
    """Plain JSON values that survive PostgreSQL's jsonb unchanged (see the module docstring)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return repr(value)  # jsonb would rewrite 1e+20 as an integer, -0.0 as 0.0: keep floats as text
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, str | Promise):
        return _text(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {_text(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Model):
        return value.pk
    return _text(value)


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, Model):
        value = value.pk
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AuditError(f"audit {name} must be an integer id, not {value!r}.")


def _clean_ip(value: Any) -> str | None:
    """A valid IP address (scope id dropped) or None: a bad REMOTE_ADDR must not fail the change."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(str(value).split("%", 1)[0].strip())
    except ValueError:
        return None
    return str(address)


def _hashed_values_json(values: Mapping[str, Any]) -> str:
    data = {name: values[name] for name in HASHED_FIELDS}
    data["occurred_at"] = values["occurred_at"].isoformat()
    data["ip"] = str(data["ip"]) if data["ip"] else None
    return json.dumps(data, default=_jsonable)


# The canonical form and the hash are computed by the database (audit/sql/chain.sql: audit_canonical, audit_hash),
# the one implementation the sealer and verify_audit use; compute_hash asks it about values held in Python.
_HASH_SQL = "SELECT audit_hash(%s, jsonb_populate_record(NULL::audit_auditevent, %s::jsonb))"


def _as_values(event: AuditEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    return event if isinstance(event, Mapping) else {name: getattr(event, name) for name in HASHED_FIELDS}


def compute_hash(prev_hash: str, event: AuditEvent | Mapping[str, Any]) -> str:
    """sha256(prev_hash | canonical content) of an event or of a mapping of its hashed fields."""
    with connection.cursor() as cursor:
        cursor.execute(_HASH_SQL, [prev_hash, _hashed_values_json(_as_values(event))])
        return cursor.fetchone()[0]


# --- Writing -----------------------------------------------------------------------------------------
_COLUMNS = tuple(name for name in HASHED_FIELDS if name not in ("before", "after", "ip"))
_INSERT = (
    f"INSERT INTO audit_auditevent ({', '.join(_COLUMNS)}, before, after, ip) "  # noqa: S608 (constants)
    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}, %s::jsonb, %s::jsonb, %s::inet) "
    "RETURNING id, chain, host(ip), recorded_at"
)


def audit_actor_columns(actor: Actor, at: dt.datetime) -> list:
    """For a service whose audit event is inserted by SQL (a PL/pgSQL function): the actor's columns as
    audit_record would write them, [actor_kind, actor_label, actor_user_id, request_id, ip, user_agent],
    after the same checks of the actor and of `at`."""
    _check_actor(actor)
    if timezone.is_naive(at):
        raise AuditError("audit time `at` must be timezone-aware.")
    return [str(actor.kind), _text(actor.label, 150), _int_or_none(actor.user_id, "actor user id"),
            _text(actor.request_id, 64), _clean_ip(actor.ip), _text(actor.user_agent, 400)]


def _check_actor(actor: Actor) -> None:
    if not isinstance(actor, Actor):
        raise AuditError(f"audit actor must be an audit.actors.Actor, not {type(actor).__name__}.")
    if actor.kind not in _ACTOR_KINDS:
        raise AuditError(f"unknown actor kind {actor.kind!r}; expected one of {sorted(_ACTOR_KINDS)}.")


def _event(*, actor: Actor, action: str, app: str, obj: Any, object_type: str, object_id: Any,
           customer_id: int | None, before: dict | None, after: dict | None, reason: str,
           at: dt.datetime | None) -> AuditEvent:
    """The event audit_record writes, checked and in its stored form (not saved)."""
    _check_actor(actor)
    if app not in _APPS:
        raise AuditError(f"unknown audit app {app!r}; expected one of {sorted(_APPS)}.")
    if not action or len(action) > 80 or "." not in action:
        raise AuditError(f"audit action {action!r} must be dotted, like 'finance.payment.allocate' (≤ 80).")
    occurred_at = at or timezone.now()
    if timezone.is_naive(occurred_at):
        raise AuditError("audit time `at` must be timezone-aware.")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        if object_id is None or object_id == "":
            object_id = obj.pk
    event = AuditEvent(
        occurred_at=occurred_at.astimezone(dt.UTC),
        actor_kind=str(actor.kind),
        actor_label=_text(actor.label, 150),
        actor_user_id=_int_or_none(actor.user_id, "actor user id"),
        app=str(app),
        action=_text(action, 80),
        object_type=_text(object_type, 60),
        object_id=_text(object_id, 64),
        object_repr=_text(obj, 200) if obj is not None else "",
        customer_id=_int_or_none(customer_id, "customer_id"),
        before=_jsonable(dict(before or {})),
        after=_jsonable(dict(after or {})),
        reason=_text(reason),
        request_id=_text(actor.request_id, 64),
        user_agent=_text(actor.user_agent, 400),
    )
    return event


def audit_record(
    *,
    actor: Actor,
    action: str,
    app: str,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    customer_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event, unsealed (audit.sealing seals it within a minute of its commit). Must run inside the
    caller's transaction (it refuses to run outside one). `before`/`after` hold the changed fields only; `obj` (a saved model) gives
    object_type, object_id and object_repr unless they are passed; `at` defaults to now (UTC stored)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records.")
    event = _event(actor=actor, action=action, app=app, obj=obj, object_type=object_type, object_id=object_id,
                   customer_id=customer_id, before=before, after=after, reason=reason, at=at)
    # The insert trigger assigns the chain and takes no lock; the event is sealed later (audit.sealing).
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [*(getattr(event, name) for name in _COLUMNS),
                                 json.dumps(event.before), json.dumps(event.after), _clean_ip(actor.ip)])
        event.id, event.chain, event.ip, event.recorded_at = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias
    return event


_ROW = f"({', '.join(['%s'] * len(_COLUMNS))}, %s::jsonb, %s::jsonb, %s::inet)"


def audit_record_many(events: list[dict[str, Any]]) -> int:
    """Append many events, unsealed, in ONE multi-row INSERT (a batch job's events: the auto top-up's chunk),
    in the order given: each dict holds audit_record's keyword arguments, checked as audit_record checks them,
    and the events' ids follow the list's order (so one object's events keep the order they happened in).
    Must run inside the caller's transaction. Returns how many were written."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record_many must run inside the transaction of the changes it records.")
    if not events:
        return 0
    params: list[Any] = []
    for spec in events:
        spec = {"obj": None, "object_type": "", "object_id": "", "customer_id": None, "before": None, "after": None,
                "reason": "", "at": None, **spec}
        event = _event(**spec)
        params += [*(getattr(event, name) for name in _COLUMNS), json.dumps(event.before), json.dumps(event.after),
                   _clean_ip(spec["actor"].ip)]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO audit_auditevent ({', '.join(_COLUMNS)}, before, after, ip) "  # noqa: S608
                       f"VALUES {', '.join([_ROW] * len(events))}", params)
        return cursor.rowcount


_ACCESS_ACTIONS = {
    "access.sign_in": ({}, {"signed_in": True}),
    "access.sign_in_failed": ({}, {"signed_in": False}),
    "access.sign_out": ({"signed_in": True}, {"signed_in": False}),
}


def audit_record_access(
    *, actor: Actor, action: str, reason: str = "", customer_id: int | None = None
) -> AuditEvent:
    """Sign-in, failed sign-in and sign-out of staff or portal customers: events of their own, each in its
    own transaction. The object is the user (empty for a failed sign-in of an unknown name); the after
    state records the outcome and the name that was used. Portal sign-ins pass the customer's id so the
    customer sees them in their own trail."""
    if action not in _ACCESS_ACTIONS:
        raise AuditError(f"unknown access action {action!r}; expected one of {sorted(_ACCESS_ACTIONS)}.")
    before, after = _ACCESS_ACTIONS[action]
    with transaction.atomic():
        return audit_record(
            actor=actor,
            action=action,
            app=AuditApp.ACCESS,
            object_type="auth.user",
            object_id=actor.user_id if actor.user_id is not None else "",
            customer_id=customer_id,
            before=before,
            after={**after, "username": actor.label},
            reason=reason,
        )
