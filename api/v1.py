"""The platform's API, version 1 (django-ninja): thin endpoints that parse with a schema, make one service
call (through api.idempotency for POSTs) and answer with a schema or an RFC 9457 problem (api.problems).
The contract is docs/api.md; the schema is served at /api/v1/openapi.json and its page at /api/v1/docs."""

from __future__ import annotations

import json
import logging
from typing import Annotated

from django.http import Http404
from django.utils import timezone
from ninja import Header, NinjaAPI, Path, Query, Swagger
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from customers.models import Customer, TransactionKind
from customers.selectors import customer_figures
from customers.services import (
    ChargeError,
    ChargeLine,
    ReservationError,
    charge_post,
    charge_post_batch,
    reservation_commit,
    reservation_release,
    reservation_reserve,
)

from . import idempotency, selectors
from .auth import KeyAuth, actor
from .models import Scope
from .problems import CONTENT_TYPE, PROBLEM_BASE, TYPES, Problem, problem_response
from .schemas import (
    BatchIn,
    BatchOut,
    ChargeIn,
    ChargeOut,
    CommitIn,
    CustomerOut,
    ProblemOut,
    ReleaseIn,
    ReservationOut,
    ReserveIn,
    Time,
    TransactionOut,
    TransactionPage,
    money,
)

log = logging.getLogger(__name__)

DESCRIPTION = """Reserve, commit and release credits for calls and SMS in flight, post charges and rated CDR
batches, read a customer's figures and transactions. Authenticate with `Authorization: Bearer <key>`; every
POST needs an `Idempotency-Key`. Errors are `application/problem+json` (RFC 9457). Guide: docs/api.md."""


class LedgerdeskAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """Every error is application/problem+json; a replayed POST says so in a header."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                for code, response in operation.get("responses", {}).items():
                    if int(code) >= 400:
                        response["content"] = {CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}
                        response["description"] = ", ".join(
                            f"{slug}" for slug, (status, _) in TYPES.items() if status == int(code)) or "Error"
                    elif operation is path_item.get("post"):
                        response["headers"] = {idempotency.REPLAYED: {
                            "description": "true when this is the stored reply of an earlier request with the "
                                           "same Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}}
                    if int(code) == 401:
                        response["headers"] = {"WWW-Authenticate": {"description": 'Bearer realm="ledgerdesk"',
                                                                    "schema": {"type": "string"}}}
                    elif int(code) == 429:
                        response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying",
                                                               "required": True, "schema": {"type": "integer"}}}
        # What a client does next with a reservation it made (OpenAPI links: also the contract tests' path).
        operations = {op["operationId"]: op for item in schema["paths"].values() for op in item.values()}
        operations["api_v1_reserve"]["responses"][201]["links"] = {
            name: {"operationId": f"api_v1_{op}", "parameters": {"reservation_id": "$response.body#/id"},
                   "description": description}
            for name, op, description in [("Commit", "commit", "Charge the final amount of this reservation."),
                                          ("Release", "release", "Give this reservation's credits back."),
                                          ("Read", "reservation_detail", "This reservation's state.")]}
        schema["info"]["x-problem-types"] = PROBLEM_BASE
        return schema


api = LedgerdeskAPI(title="Ledgerdesk usage API", version="1", description=DESCRIPTION, urls_namespace="api-v1",
                    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}))

WRITE, READ_USAGE, READ_CUSTOMERS = (KeyAuth(Scope.USAGE_WRITE), KeyAuth(Scope.USAGE_READ),
                                     KeyAuth(Scope.CUSTOMERS_READ))
POST_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429)
GET_ERRORS = (400, 401, 403, 404, 422, 429)
MAX_ID = selectors.MAX_ID
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=idempotency.MAX_KEY,
                                       description="A unique value per operation (a UUID); a retry sends the "
                                                   "same one.")]
Code = Annotated[str, Path(min_length=1, max_length=32, description="The customer's code, e.g. ACME.")]
ReservationId = Annotated[int, Path(ge=1, le=MAX_ID)]


def responses(ok: int, schema, codes=POST_ERRORS) -> dict:
    return {ok: schema, **{code: ProblemOut for code in codes}}


# --- Errors: every one a problem; never django-ninja's {"detail": ...} -------------------------------------
def _field(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
        if parts and parts[0] == "payload":
            parts = parts[1:]
    return ".".join(parts) or "body"


def _message(error: dict) -> str:
    msg = str(error.get("msg", "is not valid"))
    return msg.removeprefix("Value error, ")


@api.exception_handler(Problem)
def _problem(request, exc: Problem):
    return problem_response(exc)


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    errors = [{"field": _field(e.get("loc", ())), "message": _message(e)} for e in exc.errors[:50]]
    first = errors[0] if errors else {"field": "body", "message": "is not valid"}
    more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
    return problem_response(Problem("validation-error", f"{first['field']}: {first['message']}{more}", errors=errors))


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return problem_response(Problem("unauthorized", "Send a valid API key: Authorization: Bearer <key>.",
                                    headers={"WWW-Authenticate": 'Bearer realm="ledgerdesk"'}))


@api.exception_handler(AuthorizationError)
def _forbidden(request, exc):
    return problem_response(Problem("forbidden", "This API key may not do this."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return problem_response(Problem("malformed-request", "The body is not valid JSON."))
    slug = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
            413: "payload-too-large", 429: "rate-limited"}.get(exc.status_code, "rejected")
    return problem_response(Problem(slug, str(exc)))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem_response(Problem("not-found", "Nothing here."))


@api.exception_handler(Exception)
def _unexpected(request, exc):
    log.exception("API error", exc_info=exc)
    return problem_response(Problem("internal-error", "Something went wrong on our side; nothing was changed. "
                                                      "Retry with the same Idempotency-Key."))


# --- Helpers --------------------------------------------------------------------------------------------
def _customer(code: str) -> Customer:
    customer = selectors.customer_by_code(code)
    if customer is None:
        raise Problem("not-found", f"There is no customer with the code {code!r}.")
    return customer


def _reservation(reservation_id: int):
    reservation = selectors.reservation_get(reservation_id)
    if reservation is None:
        raise Problem("not-found", f"There is no reservation #{reservation_id}.")
    return reservation


def _usable(customer_id: int) -> str:
    return money(Customer.objects.get(pk=customer_id).usable_credits)


def _done_body(r) -> dict:
    """A reservation the service just made or resolved: its customer's code, currency and usable credits came
    back with it from the same statement (customers.services.reservations), not read again."""
    return _reservation_body(r, r.customer, money(r.customer.usable_credits))


def _reservation_body(r, customer: Customer, usable: str | None) -> dict:
    return ReservationOut(
        id=r.pk, customer=customer.code, kind=r.kind, status=r.status, amount=money(r.amount),
        committed_amount=money(r.committed_amount), reference=r.reference, currency=customer.currency,
        created_at=r.created_at, expires_at=r.expires_at, resolved_at=r.resolved_at, usable_credits=usable,
    ).model_dump(mode="json")


_REFUSALS = {"not_enough": "insufficient-credits", "no_customer": "not-found", "missing": "not-found",
             "resolved": "reservation-resolved", "expired": "reservation-expired"}


def _refusal(exc: Exception) -> Problem | None:
    """A service's domain error as the problem stored with the Idempotency-Key."""
    if isinstance(exc, ReservationError | ChargeError):
        return Problem(_REFUSALS.get(getattr(exc, "code", ""), "rejected"), str(exc))
    return None


def _raw(request) -> object:
    try:
        return json.loads(request.body) if request.body else {}
    except ValueError:
        return request.body.decode("utf-8", "replace")


# --- Reservations ---------------------------------------------------------------------------------------
@api.post("/customers/{code}/reservations", auth=WRITE, response=responses(201, ReservationOut), tags=["reservations"],
          summary="Hold credits for a call or SMS in flight")
def reserve(request, code: Code, payload: ReserveIn, idempotency_key: IdempotencyKey):
    """Refused (422 insufficient-credits) when the amount exceeds the customer's usable credits."""

    def effect():  # the customer found by its code in the service's statement (404 when there is none)
        r = reservation_reserve(customer_code=code, amount=payload.amount, actor=actor(request),
                                at=timezone.now(), kind=payload.kind, reference=payload.reference,
                                timeout_seconds=payload.expires_in_seconds)
        return 201, _done_body(r)

    return idempotency.run(request, _raw(request), effect, _refusal)


# Commit and release read nothing first: the service's one statement finds the reservation (404 `not-found` when
# it does not, not stored with the Idempotency-Key) and returns it with its customer's figures.
@api.post("/reservations/{reservation_id}/commit", auth=WRITE, response=responses(200, ReservationOut),
          tags=["reservations"], summary="Charge the final amount and release the rest")
def commit(request, reservation_id: ReservationId, payload: CommitIn, idempotency_key: IdempotencyKey):
    """`amount` is at most the amount reserved (0 charges nothing). 409 once resolved or expired."""

    def effect():
        r = reservation_commit(reservation_id=reservation_id, amount=payload.amount, actor=actor(request),
                               at=timezone.now(), description=payload.description)
        return 200, _done_body(r)

    return idempotency.run(request, _raw(request), effect, _refusal)


@api.post("/reservations/{reservation_id}/release", auth=WRITE, response=responses(200, ReservationOut),
          tags=["reservations"], summary="Give the reserved credits back, charge nothing")
def release(request, reservation_id: ReservationId, idempotency_key: IdempotencyKey, payload: ReleaseIn = None):
    reason = payload.reason if payload is not None else ""

    def effect():
        r = reservation_release(reservation_id=reservation_id, actor=actor(request), at=timezone.now(), reason=reason)
        return 200, _done_body(r)

    return idempotency.run(request, _raw(request), effect, _refusal)


@api.get("/reservations/{reservation_id}", auth=READ_USAGE, response=responses(200, ReservationOut, GET_ERRORS),
         tags=["reservations"], summary="A reservation's state")
def reservation_detail(request, reservation_id: ReservationId):
    r = _reservation(reservation_id)
    return 200, _reservation_body(r, r.customer, None)


# --- Charges --------------------------------------------------------------------------------------------
@api.post("/customers/{code}/charges", auth=WRITE, response=responses(201, ChargeOut), tags=["charges"],
          summary="Post one charge")
def charge(request, code: Code, payload: ChargeIn, idempotency_key: IdempotencyKey):
    """Usage (call, sms, fax, number_activation) is refused beyond usable credits; purchases (subscription,
    add_on, service, hardware) are billed by their invoice."""
    customer = _customer(code)

    def effect():
        row = charge_post(customer_id=customer.pk, kind=payload.kind, amount=payload.amount, actor=actor(request),
                          at=timezone.now(), occurred_at=payload.occurred_at, reference=payload.reference,
                          description=payload.description)
        return 201, ChargeOut(id=row.pk, customer=customer.code, kind=row.kind, amount=money(-row.amount),
                              currency=customer.currency, occurred_at=row.occurred_at, reference=row.reference,
                              description=row.description, usable_credits=_usable(customer.pk)).model_dump(mode="json")

    return idempotency.run(request, _raw(request), effect, _refusal)


@api.post("/customers/{code}/charge-batches", auth=WRITE, response=responses(201, BatchOut), tags=["charges"],
          summary="Post a rated CDR file: all lines or none")
def charge_batch(request, code: Code, payload: BatchIn, idempotency_key: IdempotencyKey):
    """Up to 10,000 lines in one transaction; refused whole when its usage exceeds usable credits. The batch
    `reference` posts once: a batch re-sent with the same reference returns the first one's figures."""
    customer = _customer(code)
    lines = [ChargeLine(kind=line.kind, amount=line.amount, occurred_at=line.occurred_at, reference=line.reference,
                        description=line.description) for line in payload.lines]

    def effect():
        rows = charge_post_batch(customer_id=customer.pk, lines=lines, batch_reference=payload.reference,
                                 actor=actor(request), at=timezone.now())
        total = -sum(row.amount for row in rows)
        return 201, BatchOut(reference=payload.reference, customer=customer.code, lines=len(rows), total=money(total),
                             currency=customer.currency, first_transaction_id=rows[0].pk,
                             last_transaction_id=rows[-1].pk, usable_credits=_usable(customer.pk)).model_dump(mode="json")

    return idempotency.run(request, _raw(request), effect, _refusal)


# --- Reads ----------------------------------------------------------------------------------------------
@api.get("/customers/{code}", auth=READ_CUSTOMERS, response=responses(200, CustomerOut, GET_ERRORS),
         tags=["customers"], summary="A customer's figures")
def customer_detail(request, code: Code):
    customer = _customer(code)
    f = customer_figures(customer)
    return 200, CustomerOut(code=customer.code, name=customer.name, currency=f.currency,
                            account_type=customer.account_type, usable_credits=money(f.usable_credits),
                            expecting_invoice=money(f.expecting_invoice), amount_due=money(f.amount_due),
                            current_balance=money(f.current_balance), reserved=money(f.reserved),
                            credit_limit=money(f.credit_limit))


Kind = Annotated[TransactionKind | None, Query(description="Only this kind of entry.")]


@api.get("/customers/{code}/transactions", auth=READ_CUSTOMERS, response=responses(200, TransactionPage, GET_ERRORS),
         tags=["customers"], summary="A customer's transactions, newest first")
def transactions(request, code: Code, kind: Kind = None,
                 since: Annotated[Time | None, Query(description="Only entries at or after this time.")] = None,
                 cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]*$",
                                                     description="next_cursor of the previous page.")] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50):
    customer = _customer(code)
    try:
        rows, next_cursor = selectors.transactions_page(customer, kind=kind or "", since=since, cursor=cursor or "",
                                                        limit=limit)
    except selectors.CursorError as exc:
        raise Problem("validation-error", f"cursor: {exc}", errors=[{"field": "cursor", "message": str(exc)}])
    items = [TransactionOut(id=t.pk, kind=t.kind, amount=money(t.amount), occurred_at=t.occurred_at,
                            posted_at=t.posted_at, reference=t.reference, description=t.description,
                            billed=t.billed_at is not None) for t in rows]
    return 200, TransactionPage(items=items, next_cursor=next_cursor)

