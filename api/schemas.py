"""The API's request and response schemas (pydantic, through django-ninja). Amounts travel as decimal
strings (never JSON numbers: a float cannot hold money exactly), parsed by customers.money.parse_amount, the
one strict parser; times are ISO 8601 with an offset."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, ValidationInfo

from customers.models import CHARGE_KINDS, USAGE_KINDS, ReservationStatus
from customers.money import MAX_LENGTH, MoneyError, amount_pattern, display, parse_amount

MAX_BATCH_LINES = 10_000

UsageKind = Literal[tuple(sorted(USAGE_KINDS))]  # type: ignore[valid-type]
ChargeKind = Literal[tuple(sorted(CHARGE_KINDS))]  # type: ignore[valid-type]
Status = Literal[tuple(s.value for s in ReservationStatus)]  # type: ignore[valid-type]


def _label(info: ValidationInfo) -> str:
    return (info.field_name or "amount").replace("_", " ").capitalize()


def _must_be_text(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, str):
        raise ValueError(f"{_label(info)} must be a decimal string such as \"12.50\", not a JSON "
                         f"{'number' if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__}.")
    return value


def _amount(allow_zero: bool):
    def parse(value: str, info: ValidationInfo) -> Decimal:
        try:
            return parse_amount(value, field=_label(info), allow_zero=allow_zero)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
    return parse


_AMOUNT_DOC = ("A decimal string: digits, an optional point and at most 6 decimals (\"12.50\", \"0.004\"); "
               "more than zero. JSON numbers, exponents and signs are refused.")
# The `pattern` tells clients (and the contract tests) the format; parse_amount, the one parser, decides and
# words the message (the pattern is only its shape written as a regular expression: customers.money).
Amount = Annotated[str, Field(max_length=MAX_LENGTH, description=_AMOUNT_DOC, examples=["12.50"],
                              json_schema_extra={"pattern": amount_pattern(allow_zero=False)}),
                   BeforeValidator(_must_be_text), AfterValidator(_amount(False))]
AmountOrZero = Annotated[str, Field(max_length=MAX_LENGTH, description=_AMOUNT_DOC.replace("more than zero", "zero or more"),
                                    examples=["7.20"], json_schema_extra={"pattern": amount_pattern(allow_zero=True)}),
                         BeforeValidator(_must_be_text), AfterValidator(_amount(True))]


_NUMBER_RE = re.compile(r"\s*[+-]?[0-9]*\.?[0-9]+\s*")
_TIME_DOC = "ISO 8601 with an offset, such as 2026-03-15T10:00:00+08:00."


def _must_be_iso_text(value: object) -> object:
    """Times are ISO 8601 text: pydantic alone also reads a number (or a numeric string) as a Unix time."""
    if not isinstance(value, str) or _NUMBER_RE.fullmatch(value):
        raise ValueError(f"Must be a time written as {_TIME_DOC}")
    return value


TIME_OUT_OF_RANGE = "Must be a time between the years 1 and 9999 in UTC."


def _in_utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC: ISO 8601 allows offsets up to 23:59, PostgreSQL stores up to 15:59 (an offset of
    -18:25 was a 500, found by the contract tests)."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(TIME_OUT_OF_RANGE) from None


Time = Annotated[AwareDatetime, BeforeValidator(_must_be_iso_text), AfterValidator(_in_utc),
                 Field(description=f"A time, {_TIME_DOC}")]


NO_NUL = "^[^\\x00]*$"  # _clean_text's refusal, in the schema


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value.strip()


def Text(max_length: int, description: str = ""):  # noqa: N802 - a type factory
    return Annotated[str, Field(max_length=max_length, description=description,
                                json_schema_extra={"pattern": NO_NUL}), AfterValidator(_clean_text)]


# Signed amounts going out: + is CR (in the customer's favour), - is DR; 2 decimals, up to 6 when needed.
def money(value: Decimal | None) -> str | None:
    return None if value is None else display(value).replace(",", "")


MoneyOut = Annotated[str, Field(description="A decimal string, 2 to 6 decimals; + is CR, - is DR.",
                                examples=["12.50"])]


# --- Requests ---------------------------------------------------------------------------------------------
class ReserveIn(Schema):
    amount: Amount
    reference: Text(120, "The platform's id of the call or SMS (shown on the account).") = ""
    kind: UsageKind = "call"
    expires_in_seconds: Annotated[int, Field(ge=1, le=86_400, description="Released automatically after this "
                                             "long if neither committed nor released (default 900).")] | None = None


class CommitIn(Schema):
    amount: AmountOrZero
    description: Text(255, "Shown on the charge.") = ""


class ReleaseIn(Schema):
    reason: Text(255, "Why nothing is charged (kept in the audit trail).") = ""


class ChargeIn(Schema):
    kind: ChargeKind
    amount: Amount
    occurred_at: Time
    reference: Text(120) = ""
    description: Text(255) = ""


class BatchLineIn(Schema):
    kind: ChargeKind
    amount: Amount
    occurred_at: Time
    reference: Text(120) = ""
    description: Text(255) = ""


class BatchIn(Schema):
    reference: Annotated[Text(100, "The batch's own id (e.g. the CDR file name): a batch with the same "
                                   "reference posts once."), Field(min_length=1)]
    lines: Annotated[list[BatchLineIn], Field(min_length=1, max_length=MAX_BATCH_LINES)]


# --- Responses --------------------------------------------------------------------------------------------
class ReservationOut(Schema):
    id: int
    customer: str
    kind: str
    status: Status
    amount: MoneyOut
    committed_amount: MoneyOut | None
    reference: str
    currency: str
    created_at: dt.datetime
    expires_at: dt.datetime
    resolved_at: dt.datetime | None
    usable_credits: MoneyOut | None = Field(description="The customer's usable credits after this operation "
                                                        "(null when the reservation is only read).")


class ChargeOut(Schema):
    id: int
    customer: str
    kind: str
    amount: MoneyOut = Field(description="What was charged (positive).")
    currency: str
    occurred_at: dt.datetime
    reference: str
    description: str
    usable_credits: MoneyOut


class BatchOut(Schema):
    reference: str
    customer: str
    lines: int
    total: MoneyOut = Field(description="The sum of the lines' amounts (positive).")
    currency: str
    first_transaction_id: int
    last_transaction_id: int
    usable_credits: MoneyOut


class CustomerOut(Schema):
    code: str
    name: str
    currency: str
    account_type: str
    usable_credits: MoneyOut
    expecting_invoice: MoneyOut
    amount_due: MoneyOut
    current_balance: MoneyOut
    reserved: MoneyOut = Field(description="Reserved credits: the sum of open reservations (positive).")
    credit_limit: MoneyOut


class TransactionOut(Schema):
    id: int
    kind: str
    amount: MoneyOut
    occurred_at: dt.datetime
    posted_at: dt.datetime
    reference: str
    description: str
    billed: bool


class TransactionPage(Schema):
    items: list[TransactionOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last.")


class ProblemOut(Schema):
    """RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
