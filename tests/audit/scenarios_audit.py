"""Audit walk scenarios for the audit app's own services (see test_every_service_audits.py).

`audit_record` itself is exempt (audit/services.py AUDIT_EXEMPT): it is the primitive every service calls
to write its one event, not a change of its own. Its behaviour is tested in test_hashing.py,
test_append_only.py and test_verify_audit.py."""

from audit.actors import Actor
from audit.services import audit_record_access
from tests.factories import finance_user


def sign_in():
    user = finance_user(username="walker")
    actor = Actor(kind="staff", label=user.username, user_id=user.pk, ip="192.0.2.10", user_agent="walk",
                  request_id="walk-1")
    return lambda: audit_record_access(actor=actor, action="access.sign_in")


SCENARIOS = {
    "audit.services.audit_record_access": sign_in,
}
