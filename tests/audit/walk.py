"""The audit walk's machinery: which functions are state-changing services, and which scenario drives each.
The rules are documented in tests/audit/test_every_service_audits.py."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from types import ModuleType

WALKED_APPS = ("audit", "customers", "invoices", "finance", "portal", "api", "banking", "backoffice")
EXEMPT_ATTRIBUTE = "AUDIT_EXEMPT"


def needs(*fixture_names: str):
    """Give a scenario pytest fixtures, passed as keyword arguments by name:

        @needs("settings", "fake_stripe")
        def card_payment(settings, fake_stripe): ...

    Ask for "transactional_db" when the service must really commit (on_commit hooks, threads)."""

    def decorate(scenario):
        scenario.audit_fixtures = tuple(fixture_names)
        return scenario

    return decorate


def _import_if_present(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise  # the module exists but is broken: let the walk fail loudly


def service_modules() -> list[ModuleType]:
    """`<app>/services.py`, or the package `<app>/services/` with its public submodules (a module whose
    name starts with "_", such as services/_common.py, holds private helpers and is not walked)."""
    modules = []
    for app in WALKED_APPS:
        package = _import_if_present(f"{app}.services")
        if package is None:
            continue
        modules.append(package)
        if hasattr(package, "__path__"):
            for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
                if any(part.startswith("_") for part in info.name.split(".")):
                    continue
                modules.append(importlib.import_module(info.name))
    return modules


def exemptions(module: ModuleType) -> dict[str, str]:
    value = getattr(module, EXEMPT_ATTRIBUTE, {})
    return dict(value) if isinstance(value, dict) else {"<invalid>": ""}


def defined_functions(module: ModuleType) -> dict[str, Callable]:
    """Public functions defined in the module itself (decorators unwrapped), not imported into it."""
    found = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if getattr(inspect.unwrap(obj), "__module__", None) != module.__name__:
            continue
        found[name] = obj
    return found


def discover_services() -> dict[str, Callable]:
    """{"app.services[.module].function": function} for every state-changing service."""
    services = {}
    for module in service_modules():
        exempt = exemptions(module)
        for name, function in defined_functions(module).items():
            if name not in exempt:
                services[f"{module.__name__}.{name}"] = function
    return services


def resolve_key(key: str, app: str, services: dict) -> str | None:
    """A scenario key names a service by its full dotted path ("customers.services.reservations.
    reservation_reserve"); within scenarios_<app>.py the app prefix, and then "services.", may be left
    out ("services.reservations.reservation_reserve", "reservations.reservation_reserve")."""
    for candidate in (key, f"{app}.{key}", f"{app}.services.{key}"):
        if candidate in services:
            return candidate
    return None


def load_scenarios(services: dict) -> tuple[dict[str, Callable], list[str]]:
    """All scenarios by service path, and the problems found (unknown or duplicate keys, bad files)."""
    scenarios: dict[str, Callable] = {}
    problems: list[str] = []
    for app in WALKED_APPS:
        module = _import_if_present(f"tests.audit.scenarios_{app}")
        if module is None:
            continue
        table = getattr(module, "SCENARIOS", None)
        if not isinstance(table, dict):
            problems.append(f"tests/audit/scenarios_{app}.py must define SCENARIOS: dict[str, Callable].")
            continue
        for key, scenario in table.items():
            path = resolve_key(key, app, services)
            if path is None:
                problems.append(f"scenarios_{app}.py: {key!r} names no service found by the walk (renamed or "
                                "removed? keys are dotted paths like 'customers.services.reservations."
                                "reservation_reserve').")
            elif path in scenarios:
                problems.append(f"scenarios_{app}.py: {key!r} is a second scenario for {path}.")
            elif not callable(scenario):
                problems.append(f"scenarios_{app}.py: the scenario for {key!r} is not callable.")
            else:
                scenarios[path] = scenario
    return scenarios, problems


def _max_id() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def check_scenario(service: str, scenario: Callable, **fixtures) -> None:
    """Run one scenario; fail unless the service call wrote exactly one complete, verifiable event."""
    from audit.models import AuditApp, AuditEvent
    from audit.sealing import seal_all
    from audit.services import compute_hash

    start = _max_id()
    act = scenario(**fixtures)
    if act is not None:
        assert callable(act), f"the scenario for {service} must return a zero-argument callable (or None)"
        start = _max_id()
        act()
    events = list(AuditEvent.objects.filter(id__gt=start).order_by("id"))

    actions = [e.action for e in events]
    hint = ""
    if events and act is None:
        hint = " If set-up wrote some of them, return the service call as a callable from the scenario."
    assert len(events) == 1, (
        f"{service} wrote {len(events)} audit events {actions}; every state-changing service writes exactly "
        f"one (with audit.services.audit_record, in its own transaction).{hint}")
    event = events[0]
    assert event.actor_label and event.actor_kind, f"{service}: the event has no actor"
    assert event.object_type and event.object_id, (
        f"{service}: the event ({event.action}) names no object: pass obj= (a saved model) or "
        "object_type= and object_id=")
    assert event.before or event.after, (
        f"{service}: the event ({event.action}) records neither before nor after of the changed fields")
    assert event.app in AuditApp.values and "." in event.action, f"{service}: app or action malformed"
    assert event.seq is None and event.hash is None, f"{service}: the event was not appended unsealed"
    seal_all()  # as the beat task does
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.hash is not None, f"{service}: the event was not sealed"
    assert compute_hash(stored.prev_hash, stored) == stored.hash, (
        f"{service}: the event's hash does not verify once read back from PostgreSQL")
    previous = (AuditEvent.objects.filter(chain=stored.chain, seq=stored.seq - 1)
                .values_list("hash", flat=True).first())
    if previous is not None:
        assert stored.prev_hash == previous, f"{service}: the event does not extend the chain"
