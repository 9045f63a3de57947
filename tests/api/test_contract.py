"""The contract: schemathesis reads the schema the app serves (/api/v1/openapi.json) and runs it against the
live app (Django's WSGI application, in this process, on real PostgreSQL and Redis) with a key holding every scope.

- Every operation with positive data (what the schema allows) and negative data (what it refuses), then
  stateful scenarios along the schema's OpenAPI links: reserve -> commit / release / read.
- Checks: never a 5xx; every status code, content type, header and body is the one the schema declares (so
  every error is application/problem+json); data the schema refuses is refused; data it allows is accepted
  or refused only for a reason of the operation (a problem type other than validation-error).

Generation is derandomized (a fixed seed, no example database) and kept small: the module's tests take 20-45 s
on the shared 2-core machine. Each request gets its own Idempotency-Key (unless the generated case is about that header being
wrong), and a generated customer code or reservation id is most of the time swapped for one that exists, so
the requests get past the 404 to the operations themselves.

What a request gets depends on the request only, not on what ran before it or on the machine's load: each
example and each stateful scenario starts from the fixture's data (rolled back after it), the clock is stopped
for the test (a reservation with expires_in_seconds 1 is not expired by the time its commit comes on a slow
run), the key's rate-limit count in Redis starts at zero, the Idempotency-Keys are numbered, and an id that
came from a reply through a link is kept as it is (the ids the database gives depend on what ran before in it:
swapping one by its value made a scenario's path depend on the test order). Checked on 2026-12-07: the same
call log (operation, linked, status) run alone and after other tests. A stricter final check, every link
reaching 2xx with its own reply's id, still failed in one module run of three (which scenarios Hypothesis
draws moves with small changes), so it is asked of one link, and of each operation through any id."""

from __future__ import annotations

import itertools
import zlib

import pytest
import redis
import schemathesis
import time_machine
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from api.keys import hash_key
from api.models import ALL_SCOPES
from api.problems import PROBLEM_BASE, TYPES
from api.schemas import TIME_OUT_OF_RANGE
from api.services import api_key_create
from customers.services import reservation_reserve
from tests.customers.factories import SYSTEM, postpaid, prepaid, top_up

KEY = "ld_test_contract-tests-" + "k" * 32  # known before the tests (the examples are made at collection)
EXAMPLES = 20  # per operation and mode; the stateful run has its own
STATEFUL_SCENARIOS = 20
CONFIG = schemathesis.Config.from_dict({
    "generation": {
        "deterministic": True,
        "database": "none",
        # The key is sent by the test; wrong, missing and revoked keys are tests/api/test_auth_and_edges.py's.
        "with-security-parameters": False,
    },
    # Replaced by a stricter check below: schema-valid data may be refused with 422 only by the operation
    # (insufficient-credits, rejected, ...), never as a validation-error; the built-in allows no 422 at all.
    "checks": {"positive_data_acceptance": {"enabled": False}},
})
HYPOTHESIS = {"derandomize": True, "database": None, "deadline": None,
              "suppress_health_check": list(HealthCheck)}
DOMAIN_REFUSALS = {slug for slug, (status, _) in TYPES.items() if status == 422} - {"validation-error"}


def _slug(response) -> str:
    try:
        return str(response.json().get("type", "")).removeprefix(PROBLEM_BASE)
    except (ValueError, AttributeError):
        return ""


def errors_are_problems(ctx, response, case):
    """Every 4xx is RFC 9457 with a known type whose status is the response's."""
    if response.status_code >= 400:
        body = response.json()
        slug = _slug(response)
        assert response.headers["content-type"][0].startswith("application/problem+json"), response.headers
        assert slug in TYPES and TYPES[slug][0] == response.status_code == body["status"], body
        assert body["detail"], body


def positive_data_is_accepted(ctx, response, case):
    """Data the schema allows is never refused as malformed or invalid."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 422:
        errors = response.json().get("errors") or []
        if [e["field"] for e in errors] == ["cursor"]:
            return  # an opaque cursor the API did not give: its shape is all a schema can say of it
        if errors and all(e["message"] == TIME_OUT_OF_RANGE for e in errors):
            return  # 0001-01-01T00:02:00+01:00 is a date-time the schema allows, but before year 1 in UTC
        assert _slug(response) in DOMAIN_REFUSALS, ("schema-valid data refused as invalid", response.json())
    else:
        assert response.status_code < 400 or response.status_code in (401, 403, 404, 409, 429), response.status_code


CHECKS = [errors_are_problems, positive_data_is_accepted]


class Fixture:
    """Customers and reservations that exist, and the key."""

    def __init__(self):
        self.keys = itertools.count(1)
        self.linked: dict[int, object] = {}  # the cases whose reservation_id came from a reply, through a link
        rich = prepaid(code="ACME", currency="SGD")
        top_up(rich, "50000000")
        poor = postpaid(code="LEAN", credit_limit="5", currency="SGD")
        self.codes = [rich.code, poor.code]
        self.reservations = [
            reservation_reserve(customer_id=rich.pk, amount=amount, actor=SYSTEM, at=timezone.now(),
                                reference=f"fixture-{i}").pk for i, amount in enumerate(["5", "10", "0.5"])]
        api_key_create(name="contract-tests", scopes=ALL_SCOPES, actor=SYSTEM, at=timezone.now(), plain_key=KEY)

    def _positive(self, case, location: ParameterLocation) -> bool:
        meta = case.meta
        component = meta.components.get(location) if meta is not None else None
        return component is None or component.mode.is_positive

    @staticmethod
    def _pick(choices: list, generated) -> object | None:
        """Two times in three one of `choices`, chosen by the generated value (so the run is repeatable)."""
        n = zlib.crc32(repr(generated).encode())
        return choices[n % len(choices)] if n % 3 else None

    def prepare(self, case) -> None:
        path = case.path_parameters
        if path and self._positive(case, ParameterLocation.PATH):
            if "code" in path and (code := self._pick(self.codes, path["code"])):
                path["code"] = code
            if ("reservation_id" in path and id(case) not in self.linked
                    and (rid := self._pick(self.reservations, path["reservation_id"]))):
                path["reservation_id"] = rid
        if case.method == "POST" and self._positive(case, ParameterLocation.HEADER):
            case.headers = {**(case.headers or {}), "Idempotency-Key": f"contract-{next(self.keys)}"}



@pytest.fixture
def contract(db):
    """The data, in the test's transaction; the app is called in this thread (schemathesis' WSGI transport), so,
    as Django's test client does, a request must not close the connection holding that transaction. The clock
    stands still meanwhile, and the key's rate-limit windows start empty."""
    store = redis.Redis.from_url(django_settings.REDIS_URL)
    counts = list(store.scan_iter(f"api:rate:{hash_key(KEY)[:24]}:*"))
    if counts:
        store.delete(*counts)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with time_machine.travel(timezone.now(), tick=False):
            yield Fixture()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# The schema as the app serves it (GET /api/v1/openapi.json through the whole WSGI app: URL conf, middleware),
# read when the module is collected (it needs no database). The requests go through the same WSGI app.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application(), config=CONFIG)


@schema.auth(refresh_interval=None)
class ContractKey:
    """The test's key with every scope, sent as the schema's bearer scheme says (so schemathesis' own
    ignored_auth check can take it away and expect 401)."""

    def get(self, case, ctx):
        return KEY

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, **HYPOTHESIS)
def test_every_operation_keeps_the_contract(case, contract):
    contract.prepare(case)
    with transaction.atomic():  # each example on the fixture's data, not on what the examples before it did
        case.call_and_validate(additional_checks=CHECKS)
        transaction.set_rollback(True)


def test_reserve_then_commit_release_or_read_keeps_the_contract(contract):
    seen = set()

    class Scenarios(schema.as_state_machine()):
        """Each scenario starts from the fixture's data (a savepoint rolled back at its end): the statuses a
        scenario gets depend on its own requests only, so Hypothesis, which replays the choices of earlier
        scenarios, sees each one behave the same way every time."""

        def setup(self):
            super().setup()
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)
            super().teardown()

        def step(self, input):
            if input.transition is not None and (ParameterLocation.PATH, "reservation_id") in input.applied_parameters:
                contract.linked[id(input.case)] = input.case  # kept: its id stays its own
            return super().step(input)

        def before_call(self, case):
            contract.prepare(case)

        def after_call(self, response, case):
            seen.add((case.operation.label, id(case) in contract.linked, response.status_code))

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            super().validate_response(response, case, additional_checks=CHECKS, **kwargs)

    Scenarios.run(settings=settings(Scenarios.TestCase.settings, max_examples=STATEFUL_SCENARIOS,
                                    stateful_step_count=6, **HYPOTHESIS))
    # The links were followed: reservations made by the scenarios were committed, released and read.
    for label in ("POST /api/v1/customers/{code}/reservations", "POST /api/v1/reservations/{reservation_id}/commit",
                  "POST /api/v1/reservations/{reservation_id}/release", "GET /api/v1/reservations/{reservation_id}"):
        assert any(seen_label == label and status < 300 for seen_label, _, status in seen), (label, sorted(seen))
    # ... and at least one reply's id went through a link to a 2xx (which ones varies with the seed).
    assert any(linked and status < 300 for _, linked, status in seen), sorted(seen)
