"""The audit walk: every state-changing service writes exactly one audit event, with its actor, its object
and the before/after of what it changed, in the chain.

Which functions are services (tests/audit/walk.py):
  every public function (name not starting with "_") DEFINED at module level (not imported) in
  `<app>/services.py`, or in `<app>/services/__init__.py` and `<app>/services/<module>.py` (modules named
  with a leading "_", like services/_common.py, are private helpers), for the apps audit, customers,
  invoices, finance, portal and api. Decorators are unwrapped, so `@transaction.atomic` services count.

  Being walked is the default, on purpose: a new service is walked the moment it exists, so it cannot
  slip past the audit by forgetting a decorator or a registration. A public function in a services
  module that is NOT a state-changing service (a pure helper, a primitive such as `audit_record`) must
  be exempted explicitly, in its own module, with the reason:

      AUDIT_EXEMPT = {"money_split": "pure function: splits an amount, writes nothing"}

  (better still, make it private with a leading "_" or move it out of services). An exemption that
  names no function of its module, or gives no reason, fails the walk too.

Scenarios (tests/audit/scenarios_<app>.py, one file per app, owned by that app's engineer):
  SCENARIOS: dict[str, Callable] keyed by the service's dotted path, e.g.
  "customers.services.reservations.reservation_reserve" (within scenarios_customers.py the prefix
  "customers." or "customers.services." may be left out). A scenario sets up what it needs (factories,
  and other services if it must), then RETURNS a zero-argument callable `act` that calls the service
  exactly once. Only the events written while `act()` runs are counted, so set-up may write events:

      def reserve():
          customer = prepaid(credit=Decimal("50"))
          return lambda: reservation_reserve(customer_id=customer.pk, amount=Decimal("5"), actor=SYSTEM, ...)

      SCENARIOS = {"customers.services.reservations.reservation_reserve": reserve}

  A scenario that calls the service itself and returns None is accepted too; then every event it writes
  counts, so its set-up must write none (factories only). A scenario that needs pytest fixtures declares
  them with `@needs("settings", ...)` from tests/audit/walk.py and receives them as keyword arguments;
  `@needs("transactional_db")` runs it in a committing database instead of a rolled-back transaction.

Each scenario runs in a fresh test database transaction and must produce exactly one new event that has
an actor label, an object type and id, a non-empty before or after, and a hash that still verifies once
the row is read back from PostgreSQL (values that do not survive the jsonb round trip are caught here).
"""

from __future__ import annotations

import inspect

import pytest

from tests.audit.walk import (
    EXEMPT_ATTRIBUTE,
    check_scenario,
    defined_functions,
    discover_services,
    exemptions,
    load_scenarios,
    service_modules,
)

SERVICES = discover_services()
SCENARIOS, SCENARIO_PROBLEMS = load_scenarios(SERVICES)


def _scenario_file(path: str) -> str:
    return f"tests/audit/scenarios_{path.split('.', 1)[0]}.py"


def test_the_walk_finds_the_services():
    assert "audit.services.audit_record_access" in SERVICES
    assert "audit.services.audit_record" not in SERVICES  # exempt: the primitive, not a change
    assert all(inspect.isfunction(f) for f in SERVICES.values())


def test_every_scenario_names_a_service_once():
    assert not SCENARIO_PROBLEMS, "\n".join(SCENARIO_PROBLEMS)


def test_every_exemption_names_a_function_of_its_module_and_gives_a_reason():
    problems = []
    for module in service_modules():
        functions = defined_functions(module)
        for name, reason in exemptions(module).items():
            if name not in functions:
                problems.append(f"{module.__name__}.{EXEMPT_ATTRIBUTE} names {name!r}, which it does not define.")
            if not isinstance(reason, str) or len(reason.strip()) < 10:
                problems.append(f"{module.__name__}.{EXEMPT_ATTRIBUTE}[{name!r}] needs a reason.")
    assert not problems, "\n".join(problems)


def _params():
    for service in sorted(SERVICES):
        wants = getattr(SCENARIOS.get(service), "audit_fixtures", ())
        yield pytest.param(service, marks=pytest.mark.django_db(transaction="transactional_db" in wants))


@pytest.mark.parametrize("service", list(_params()))
def test_every_service_writes_exactly_one_audit_event(service, request):
    scenario = SCENARIOS.get(service)
    if scenario is None:
        module, name = service.rsplit(".", 1)
        pytest.fail(
            f"{service} has no audit scenario. Add one to {_scenario_file(service)}:\n"
            f"    SCENARIOS[{service!r}] = a function that sets up with factories and returns a zero-argument "
            f"callable calling {name}(...) exactly once (see tests/audit/test_every_service_audits.py).\n"
            f"If {name} changes nothing, make it private ('_{name}'), move it out of the services module, or "
            f"add it with the reason to {EXEMPT_ATTRIBUTE} in {module}.",
            pytrace=False,
        )
    fixtures = getattr(scenario, "audit_fixtures", ())
    kwargs = {name: request.getfixturevalue(name) for name in fixtures if name != "transactional_db"}
    check_scenario(service, scenario, **kwargs)
