"""What every statement parser returns, and the one error they raise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


class StatementFormatError(ValueError):
    """A file that cannot be read as a statement. `line` is the line of the file (1 = first) where the problem
    is, when it is known; the message says what is wrong in words a finance user understands."""

    def __init__(self, reason: str, line: int | None = None):
        self.reason, self.line = reason, line
        super().__init__(f"Line {line}: {reason}" if line else reason)


@dataclass(frozen=True)
class ParsedLine:
    booking_date: dt.date
    amount: Decimal  # signed: + money in, - money out
    currency: str
    value_date: dt.date | None = None
    bank_reference: str = ""
    reference: str = ""
    payer_name: str = ""
    payer_account: str = ""
    remittance_text: str = ""
    bank_code: str = ""
    source_line: int | None = None  # where in the file, for messages


@dataclass
class ParsedStatement:
    format: str
    lines: list[ParsedLine]
    account: str = ""  # the account the file names (IBAN or number), when it names one
    currency: str = ""  # the statement's own currency, when it gives one
    statement_ref: str = ""
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    warnings: list[str] = field(default_factory=list)


def decode(content: bytes) -> str:
    """Text of a statement file: UTF-8 (with or without a byte-order mark), else Latin-1 (older bank exports),
    which maps every byte. NUL characters are refused: no statement format has them."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise StatementFormatError("the file contains NUL bytes: it is not a text statement.", line)
    return text


def clip(text: str | None, length: int) -> str:
    """Text cut to a column's length, whitespace runs folded."""
    return " ".join((text or "").split())[:length]
