"""Every audit action that can concern a customer is a decision: shown to them (portal.audit_visibility.SHOWN,
with the fields they may read) or hidden with a reason (HIDDEN). An action in neither is hidden from the
customer anyway (the allow-list), but these tests fail on it, so that whoever adds an action decides what
the customer sees of it, instead of the customer silently seeing nothing.

Two nets: the audit walk's scenarios (tests/audit/scenarios_*.py drive every service; each event they
write with a customer is checked), and the action names written in the source (which also covers the
actions of orchestrators the walk exempts, such as the daily auto top-up's claim and fire)."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from portal.audit_visibility import HIDDEN, SHOWN
from tests.audit.walk import discover_services, load_scenarios

SERVICES = discover_services()
SCENARIOS, _ = load_scenarios(SERVICES)
ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = ("audit", "customers", "invoices", "finance", "portal", "backoffice", "common", "api")
ACTION = re.compile(r"^(?:access\.[a-z_]+|(?:customers|invoices|finance|portal|settings)\.[a-z_]+\.[a-z_]+)$")
NOT_ACTIONS = re.compile(r"^[a-z_]+\.(tasks|services|selectors|models|views)\.")  # Celery task names, paths


def _unclassified(actions) -> list[str]:
    return sorted(a for a in set(actions) if a not in SHOWN and a not in HIDDEN)


def _advice(actions: list[str]) -> str:
    return (f"{actions}: decide what a customer sees of each in portal/audit_visibility.py: add it to SHOWN "
            "(a label and the fields they may read) or to HIDDEN (with the reason). docs/portal.md explains.")


def _params():
    for service in sorted(SCENARIOS):
        wants = getattr(SCENARIOS[service], "audit_fixtures", ())
        yield pytest.param(service, marks=pytest.mark.django_db(transaction="transactional_db" in wants))


@pytest.mark.parametrize("service", list(_params()))
def test_every_action_the_walk_records_for_a_customer_is_shown_or_hidden_on_purpose(service, request):
    from audit.models import AuditEvent

    scenario = SCENARIOS[service]
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    fixtures = {name: request.getfixturevalue(name) for name in getattr(scenario, "audit_fixtures", ())
                if name != "transactional_db"}
    act = scenario(**fixtures)
    if act is not None:
        act()
    actions = (AuditEvent.objects.filter(id__gt=start, customer_id__isnull=False)
               .values_list("action", flat=True))
    missing = _unclassified(actions)
    assert not missing, _advice(missing)


def _source_actions() -> dict[str, str]:
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")) if (ROOT / app).is_dir() else ():
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and ACTION.match(node.value)
                        and not NOT_ACTIONS.match(node.value)):
                    found.setdefault(node.value, str(path.relative_to(ROOT)))
    return found


def test_every_action_named_in_the_source_is_shown_or_hidden_on_purpose():
    found = _source_actions()
    assert "finance.auto_top_up.fire" in found and "invoices.invoice.resend" in found  # the scan sees them
    missing = _unclassified(found)
    assert not missing, _advice([f"{a} ({found[a]})" for a in missing])


def test_the_lists_are_consistent():
    assert not set(SHOWN) & set(HIDDEN), "an action is either shown or hidden"
    for action, entry in SHOWN.items():
        assert entry.label and "." not in entry.label, f"{action}: a label in the customer's words"
        keys = entry.keys
        assert len(keys) == len(set(keys)), f"{action}: a field listed twice"
    for action, reason in HIDDEN.items():
        assert len(reason) > 20, f"{action}: say why the customer does not see it"


RAW_LEDGER_AMOUNT = re.compile(r"\d\.\d{2}\d*0\b")  # 40.000000, 12.703270: money not through display()


@pytest.mark.parametrize("service", list(_params()))
def test_the_object_a_customer_reads_names_no_row_id_and_shows_money_as_money(service, request):
    """Issue 19: the Object column read "Transfer from master account 1234.567891 13" (6 decimals and our
    row id). Every object the walk records for a shown action is in the customer's words."""
    from audit.models import AuditEvent
    from portal.audit_visibility import AS_STORED, OBJECTS, object_shown

    scenario = SCENARIOS[service]
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    fixtures = {name: request.getfixturevalue(name) for name in getattr(scenario, "audit_fixtures", ())
                if name != "transactional_db"}
    act = scenario(**fixtures)
    if act is not None:
        act()
    for event in AuditEvent.objects.filter(id__gt=start, customer_id__isnull=False, action__in=list(SHOWN)):
        if not event.object_repr:
            continue
        assert event.object_type in OBJECTS, f"{event.action}: say how a customer reads a {event.object_type}"
        shown = object_shown(event.object_type, event.object_repr, "SGD")
        assert shown, f"{event.action}: {event.object_repr!r} shows nothing"
        if OBJECTS[event.object_type].pattern != AS_STORED:  # not their own words (a name, an invoice number)
            tokens = shown.replace("#", " ").split()
            assert str(event.object_id) not in tokens and str(event.customer_id) not in tokens, (event.action, shown)
        assert not RAW_LEDGER_AMOUNT.search(shown), (event.action, shown)
        assert "#" not in shown and "customer " not in shown, (event.action, shown)
