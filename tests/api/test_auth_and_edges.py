"""Who may call what (the auth matrix), Idempotency-Key replays, the edges: body limits, rate limit, hostile
input, unknown paths and methods. Every error is a problem, never django-ninja's {"detail": ...} nor a 500."""

import json

import pytest
from django.utils import timezone

from api.models import ApiKey, Scope
from api.services import api_key_revoke
from common.models import IdempotencyRecord
from customers.models import Reservation
from tests.api.helpers import PROBLEM, Api, assert_problem, make_key
from tests.customers.factories import SYSTEM, prepaid, top_up

pytestmark = pytest.mark.django_db

NOW = "2026-01-01T10:00:00+08:00"
# (method, path, body, scope)
ENDPOINTS = [
    ("post", "/customers/ACME/reservations", {"amount": "1"}, Scope.USAGE_WRITE),
    ("post", "/reservations/{rid}/commit", {"amount": "1"}, Scope.USAGE_WRITE),
    ("post", "/reservations/{rid}/release", {}, Scope.USAGE_WRITE),
    ("get", "/reservations/{rid}", None, Scope.USAGE_READ),
    ("post", "/customers/ACME/charges", {"kind": "call", "amount": "1", "occurred_at": NOW}, Scope.USAGE_WRITE),
    ("post", "/customers/ACME/charge-batches", {"reference": "b1", "lines": [
        {"kind": "call", "amount": "1", "occurred_at": NOW}]}, Scope.USAGE_WRITE),
    ("get", "/customers/ACME", None, Scope.CUSTOMERS_READ),
    ("get", "/customers/ACME/transactions", None, Scope.CUSTOMERS_READ),
]


@pytest.fixture
def setup():
    customer = prepaid(code="ACME")
    top_up(customer, "100")
    key = make_key()
    rid = Api(key).post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
    return key, rid


def _call(api, method, path, body, rid):
    path = path.format(rid=rid)
    return api.post(path, body) if method == "post" else api.get(path)


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS)
class TestAuthMatrix:
    def test_no_wrong_or_revoked_key_is_the_same_401(self, setup, method, path, body, scope):
        key, rid = setup
        revoked = make_key("old-platform")
        api_key_revoke(key_id=ApiKey.objects.get(name="old-platform").pk, actor=SYSTEM, at=timezone.now())
        bodies = []
        for api in (Api(None), Api("ld_test_" + "x" * 43), Api(revoked), Api(key[:-1])):
            r = _call(api, method, path, body, rid)
            bodies.append(assert_problem(r, 401, "unauthorized"))
            assert r["WWW-Authenticate"].startswith("Bearer")
        assert all(b == bodies[0] for b in bodies)

    def test_a_key_without_the_scope_is_403(self, setup, method, path, body, scope):
        _, rid = setup
        others = [s for s in Scope if s != scope]
        body_ = assert_problem(_call(Api(make_key("narrow", others)), method, path, body, rid), 403, "forbidden")
        assert scope in body_["detail"]

    def test_the_key_with_the_scope_gets_through(self, setup, method, path, body, scope):
        _, rid = setup
        r = _call(Api(make_key("only", [scope])), method, path, body, rid)
        assert r.status_code in (200, 201), r.content


class TestIdempotency:
    def test_the_same_key_and_body_replays_the_first_reply(self, setup):
        key, _ = setup
        api = Api(key)
        first = api.post("/customers/ACME/reservations", {"amount": "2"}, key="k-1")
        again = api.post("/customers/ACME/reservations", {"amount": "2"}, key="k-1")
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert Reservation.objects.count() == 2  # the setup's and this one

    def test_whitespace_and_key_order_do_not_make_another_body(self, setup):
        api = Api(setup[0])
        api.post("/customers/ACME/reservations", raw='{"amount": "2", "reference": "x"}', key="k-2")
        r = api.post("/customers/ACME/reservations", raw='{"reference":"x","amount":"2"}', key="k-2")
        assert r.status_code == 201 and r["Idempotent-Replayed"] == "true"

    def test_the_same_key_with_another_body_is_422(self, setup):
        api = Api(setup[0])
        api.post("/customers/ACME/reservations", {"amount": "2"}, key="k-3")
        assert_problem(api.post("/customers/ACME/reservations", {"amount": "3"}, key="k-3"), 422,
                       "idempotency-key-reused")
        assert_problem(api.post("/customers/ACME/charges", {"kind": "call", "amount": "2", "occurred_at": NOW},
                                key="k-3"), 422, "idempotency-key-reused")

    def test_a_refusal_is_stored_and_replayed(self, setup):
        api = Api(setup[0])
        first = api.post("/customers/ACME/reservations", {"amount": "500"}, key="k-4")
        assert_problem(first, 422, "insufficient-credits")
        top_up(Reservation.objects.first().customer, "1000")
        again = api.post("/customers/ACME/reservations", {"amount": "500"}, key="k-4")
        assert_problem(again, 422, "insufficient-credits")
        assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
        assert api.post("/customers/ACME/reservations", {"amount": "500"}, key="k-5").status_code == 201

    def test_a_validation_error_is_not_stored(self, setup):
        api = Api(setup[0])
        assert_problem(api.post("/customers/ACME/reservations", {"amount": "x"}, key="k-6"), 422, "validation-error")
        assert not IdempotencyRecord.objects.filter(key="k-6").exists()
        assert api.post("/customers/ACME/reservations", {"amount": "1"}, key="k-6").status_code == 201

    def test_keys_are_per_client(self, setup):
        key, _ = setup
        Api(key).post("/customers/ACME/reservations", {"amount": "1"}, key="shared")
        r = Api(make_key("billing-bridge")).post("/customers/ACME/reservations", {"amount": "1"}, key="shared")
        assert r.status_code == 201 and "Idempotent-Replayed" not in r

    def test_a_post_without_the_key_is_refused(self, setup):
        body = assert_problem(Api(setup[0]).post("/customers/ACME/reservations", {"amount": "1"}, key=None),
                              422, "validation-error")
        assert body["errors"][0]["field"] == "Idempotency-Key"

    def test_a_key_older_than_a_day_works_again_before_the_purge(self, setup):
        import datetime as dt

        api = Api(setup[0])
        first = api.post("/customers/ACME/reservations", {"amount": "1"}, key="day-old")
        IdempotencyRecord.objects.filter(key="day-old").update(created_at=timezone.now() - dt.timedelta(hours=25))
        again = api.post("/customers/ACME/reservations", {"amount": "2"}, key="day-old")
        assert again.status_code == 201 and "Idempotent-Replayed" not in again
        assert again.json()["id"] != first.json()["id"] and again.json()["amount"] == "2.00"
        record = IdempotencyRecord.objects.get(key="day-old")  # the old reply replaced by the new one
        assert record.status == 201 and record.created_at > timezone.now() - dt.timedelta(minutes=5)
        replay = api.post("/customers/ACME/reservations", {"amount": "2"}, key="day-old")
        assert replay["Idempotent-Replayed"] == "true" and replay.json() == again.json()
        # a refusal with a day-old key is answered and stored too (not mistaken for a key in use)
        IdempotencyRecord.objects.filter(key="day-old").update(created_at=timezone.now() - dt.timedelta(hours=25))
        refused = api.post("/customers/ACME/reservations", {"amount": "5000"}, key="day-old")
        assert_problem(refused, 422, "insufficient-credits")
        assert IdempotencyRecord.objects.get(key="day-old").status == 422

    def test_records_older_than_a_day_are_purged(self, setup):
        import datetime as dt

        from api.tasks import purge_idempotency_records

        Api(setup[0]).post("/customers/ACME/reservations", {"amount": "1"}, key="old")
        IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
        assert purge_idempotency_records() == 2
        assert not IdempotencyRecord.objects.exists()


HOSTILE_AMOUNTS = [1e400, "1e400", "1E5", 12.5, 5, True, None, [], {}, "-5", "0", "1.1234567", "NaN", "Infinity",
                   "١٢", "1,2,3", "9" * 30, "12.50\u0000", "", " ", "0x10", "1_000", "+-1", "½", "1" * 5000]


@pytest.mark.parametrize("amount", HOSTILE_AMOUNTS, ids=lambda a: repr(a)[:20])
def test_a_hostile_amount_is_a_422_problem(setup, amount):
    raw = json.dumps({"amount": amount}) if amount != 1e400 else '{"amount": 1e400}'
    r = Api(setup[0]).post("/customers/ACME/reservations", raw=raw)
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "amount"


@pytest.mark.parametrize("raw", ['{"amount": "1"', "not json", '{"amount": "1", "reference": "\\ud800"}',
                                 '{"amount": "1", "reference": "a\\u0000b"}', '{"amount": "1", "reference": "' +
                                 "x" * 500 + '"}', "[]", '"x"', "null", '{"amount": "1", "kind": 3}',
                                 '{"amount": "1", "expires_in_seconds": 1e400}', '{"amount": "1", "expires_in_seconds": '
                                 + "9" * 50 + "}", '{"amount": "1", "reference": "電話 ☎ 🙂"}'])
def test_hostile_bodies_are_4xx_problems_or_accepted_never_500(setup, raw):
    r = Api(setup[0]).post("/customers/ACME/reservations", raw=raw)
    if r.status_code == 201:
        return
    assert r.status_code in (400, 422), r.content
    assert r["Content-Type"] == PROBLEM and "detail" in r.json() and "type" in r.json()


def test_malformed_json_is_400(setup):
    assert_problem(Api(setup[0]).post("/customers/ACME/reservations", raw='{"amount": '), 400, "malformed-request")


def test_a_body_over_the_limit_is_413(setup, settings):
    settings.LEDGERDESK_API_MAX_BODY_BYTES = 1000
    r = Api(setup[0]).post("/customers/ACME/reservations", {"amount": "1", "reference": "x" * 2000})
    assert_problem(r, 413, "payload-too-large")


def test_a_batch_may_be_larger_than_djangos_form_limit(setup, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    lines = [{"kind": "sms", "amount": "0.01", "occurred_at": NOW, "reference": f"r{i}"} for i in range(100)]
    r = Api(setup[0]).post("/customers/ACME/charge-batches", {"reference": "b-big", "lines": lines})
    assert r.status_code == 201, r.content[:300]


def test_over_the_rate_limit_is_429_with_retry_after(setup, settings):
    settings.LEDGERDESK_API_RATE_LIMIT = 3
    settings.LEDGERDESK_API_RATE_WINDOW_SECONDS = 3600
    api = Api(make_key("rate-test"))
    statuses = [api.get("/customers/ACME").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = api.get("/customers/ACME")
    assert_problem(r, 429, "rate-limited")
    assert 1 <= int(r["Retry-After"]) <= 3600
    assert Api(make_key("other-client")).get("/customers/ACME").status_code == 200  # per key


@pytest.mark.parametrize(("method", "path"), [("get", "/api/v1/nothing"), ("get", "/api/v2/customers/ACME"),
                                              ("get", "/api/v1/reservations/1/commit"),
                                              ("delete", "/api/v1/customers/ACME"),
                                              ("get", "/api/v1/customers/ACME?x=%00")])
def test_unknown_paths_methods_and_nul_bytes_are_problems(setup, client, method, path):
    r = getattr(client, method)(path, headers={"Authorization": f"Bearer {setup[0]}"})
    assert 400 <= r.status_code < 500 and r["Content-Type"] == PROBLEM, (r.status_code, r.content[:200])
    assert r.json()["status"] == r.status_code


def test_the_openapi_schema_declares_problems_for_every_error():
    from api.v1 import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    assert len(schema["paths"]) == 8
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"401", "403", "422", "429"} <= {str(c) for c in codes}, (path, method)
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert list(response["content"]) == [PROBLEM], (path, method, code)
            if method == "post":
                names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert "Idempotency-Key" in names
    assert schema["components"]["securitySchemes"]


def test_the_schema_and_docs_are_served(client):
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Ledgerdesk usage API"
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"/static/ninja/swagger-ui-bundle.js" in page.content
    assert b"cdn" not in page.content.lower()
