"""The walk itself must be able to fail: it finds defined (not imported) public functions, honours only
explicit exemptions, and refuses a service that writes no event, two events, or an incomplete one."""

import types

import pytest
from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record, audit_record_access
from tests.audit.walk import check_scenario, defined_functions, exemptions, resolve_key

SOURCE = '''
from django.db import transaction
from audit.services import audit_record  # imported: not this module's service

AUDIT_EXEMPT = {"pure_helper": "pure function: formats a number"}

@transaction.atomic
def thing_create(*, actor):
    pass

def pure_helper(value):
    return value

def _private(value):
    return value

class ThingError(ValueError):
    pass

CONSTANT = 3
'''


def _module():
    module = types.ModuleType("fakeapp.services.things")
    exec(compile(SOURCE, "fakeapp/services/things.py", "exec"), module.__dict__)  # noqa: S102
    return module


class TestDiscovery:
    def test_only_public_functions_defined_in_the_module_are_found(self):
        assert set(defined_functions(_module())) == {"thing_create", "pure_helper"}

    def test_exemptions_are_read_from_the_module(self):
        assert exemptions(_module()) == {"pure_helper": "pure function: formats a number"}

    def test_scenario_keys_may_leave_out_the_app_prefix(self):
        services = {"finance.services.payments.payment_record": object()}
        for key in ("finance.services.payments.payment_record", "services.payments.payment_record",
                    "payments.payment_record"):
            assert resolve_key(key, "finance", services) == "finance.services.payments.payment_record"
        assert resolve_key("payment_record", "customers", services) is None


ACTOR = Actor(kind="staff", label="walker", user_id=1)


def _event(**kw):
    with transaction.atomic():
        audit_record(**{"actor": ACTOR, "action": "finance.thing.change", "app": "finance",
                        "object_type": "finance.thing", "object_id": 1, "after": {"x": 1}, **kw})


@pytest.mark.django_db
class TestTheHarnessFails:
    def test_a_service_that_writes_no_event(self):
        with pytest.raises(AssertionError, match="wrote 0 audit events"):
            check_scenario("x.services.silent", lambda: (lambda: None))

    def test_a_service_that_writes_two_events(self):
        with pytest.raises(AssertionError, match="wrote 2 audit events"):
            check_scenario("x.services.chatty", lambda: (lambda: (_event(), _event())))

    def test_a_service_without_an_object(self):
        with pytest.raises(AssertionError, match="names no object"):
            check_scenario("x.services.vague", lambda: (lambda: _event(object_type="", object_id="")))

    def test_a_service_without_before_or_after(self):
        with pytest.raises(AssertionError, match="neither before nor after"):
            check_scenario("x.services.blank", lambda: (lambda: _event(after={})))

    def test_set_up_events_do_not_count_when_the_scenario_returns_its_act(self):
        def scenario():
            _event()  # set-up through another service
            return lambda: _event()

        check_scenario("x.services.ok", scenario)

    def test_set_up_events_count_when_the_scenario_calls_the_service_itself(self):
        with pytest.raises(AssertionError, match="return the service call as a callable"):
            check_scenario("x.services.setup", lambda: (_event(), _event(), None)[-1])

    def test_a_complete_event_passes(self):
        check_scenario("audit.services.audit_record_access",
                       lambda: (lambda: audit_record_access(actor=ACTOR, action="access.sign_out")))

    def test_audit_record_is_exempt_with_its_reason(self):
        from audit import services

        assert "audit_record" in services.AUDIT_EXEMPT
        assert audit_record.__name__ == "audit_record"
