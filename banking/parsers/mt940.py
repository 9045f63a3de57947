"""SWIFT MT940 (customer statement message), read with the `mt-940` library: :25: account, :60F:/:62F:
balances (their currency is the statement's), one :61: statement line per transaction and the :86: text that
follows it. The :86: text is read for the payer's name, account and remittance when it is structured
(/NAME/.../REMI/.../IBAN/... or the ?20..?33 subfields of German banks), else taken whole as remittance."""

from __future__ import annotations

import datetime as dt
import re

import mt940 as mt940_library

from .base import ParsedLine, ParsedStatement, StatementFormatError, clip

_TAG = re.compile(r"^:(\d{2}[A-Z]?):", re.MULTILINE)


def looks_like_mt940(text: str) -> bool:
    head = text.lstrip()[:4000]
    return head.startswith("{1:") or bool(re.search(r"^:20:", head, re.MULTILINE)) and ":25:" in head


def parse(text: str) -> ParsedStatement:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    _check_tags(text)
    transactions = mt940_library.models.Transactions()
    try:
        transactions.parse(text)
    except (RuntimeError, ValueError, KeyError, ArithmeticError) as exc:
        raise StatementFormatError(f"not a readable MT940 statement ({exc}).", _line_of_error(text, exc))
    data = transactions.data
    opening = data.get("final_opening_balance") or data.get("intermediate_opening_balance")
    result = ParsedStatement(format="mt940", lines=[], account=clip(data.get("account_identification"), 64),
                             statement_ref=clip(data.get("transaction_reference"), 140),
                             currency=(getattr(getattr(opening, "amount", None), "currency", "") or "").upper())
    statement_lines = [m.start() for m in re.finditer(r"^:61:", text, re.MULTILINE)]
    if len(statement_lines) != len(transactions.transactions):
        raise StatementFormatError(f"{len(statement_lines)} :61: lines but {len(transactions.transactions)} "
                                   "transactions could be read.")
    for offset, transaction in zip(statement_lines, transactions.transactions, strict=True):
        line_number = text.count("\n", 0, offset) + 1
        t = transaction.data
        amount = t["amount"].amount
        if amount == 0:
            raise StatementFormatError("a :61: line with a zero amount.", line_number)
        if str(t.get("status", "")).startswith("R"):  # RC / RD: a reversal of a credit or a debit
            amount = -amount
        currency = (t["amount"].currency or result.currency or "").upper()
        entry_date = t.get("entry_date") or t["date"]
        details = _details(t.get("transaction_details") or "")
        reference = clip(t.get("customer_reference"), 140)
        if reference.upper() == "NONREF":
            reference = ""
        result.lines.append(ParsedLine(
            booking_date=_date(entry_date), value_date=_date(t["date"]), amount=amount, currency=currency,
            bank_reference=clip(t.get("bank_reference"), 140), reference=reference,
            payer_name=details["name"], payer_account=details["account"],
            remittance_text=details["remittance"], bank_code=clip(t.get("id"), 35), source_line=line_number))
    dates = [line.booking_date for line in result.lines]
    result.period_from, result.period_to = (min(dates), max(dates)) if dates else (None, None)
    return result


def _date(value) -> dt.date:
    return dt.date(value.year, value.month, value.day)


def _check_tags(text: str) -> None:
    """What the library would otherwise accept silently or report without a place: a :61: line whose date is
    not a date, and a file without :61: or :25:."""
    if ":25:" not in text:
        raise StatementFormatError("an MT940 file without an account (:25:).")
    for match in re.finditer(r"^:61:(\d{2})(\d{2})(\d{2})", text, re.MULTILINE):
        year, month, day = (int(g) for g in match.groups())
        try:
            dt.date(2000 + year, month, day)
        except ValueError:
            line = text.count("\n", 0, match.start()) + 1
            raise StatementFormatError(f"the value date {match.group(1)}{match.group(2)}{match.group(3)} of a :61: "
                                       "line is not a date (YYMMDD).", line)
    for match in re.finditer(r"^:61:(.*)$", text, re.MULTILINE):
        if not re.match(r"\d{6}(\d{4})?R?[DC][A-Z]?\d", match.group(1)):
            line = text.count("\n", 0, match.start()) + 1
            raise StatementFormatError(f"a :61: line that is not date, debit/credit mark and amount: "
                                       f"{clip(match.group(1), 40)!r}.", line)


def _line_of_error(text: str, exc: Exception) -> int | None:
    """The line of the value the library could not read, when its message quotes it."""
    message = str(exc)
    for match in _TAG.finditer(text):
        end = text.find("\n", match.end())
        value = text[match.end():end if end >= 0 else None]
        if value and value in message:
            return text.count("\n", 0, match.start()) + 1
    return None


_KEYED = re.compile(r"/(NAME|REMI|IBAN|ACCT|ORDP|BENM|EREF|CNTP)/", re.IGNORECASE)
_GERMAN = re.compile(r"\?(\d{2})")


def _details(raw: str) -> dict[str, str]:
    text = raw.replace("\n", "")
    found = {"name": "", "account": "", "remittance": ""}
    if _GERMAN.search(text) and text[:3].isdigit():
        parts: dict[str, list[str]] = {}
        pieces = _GERMAN.split(text)
        for key, value in zip(pieces[1::2], pieces[2::2], strict=False):
            parts.setdefault(key, []).append(value)
        found["remittance"] = clip("".join(v for k in sorted(parts) if "20" <= k <= "29" for v in parts[k]), 1000)
        found["name"] = clip("".join(parts.get("32", []) + parts.get("33", [])), 140)
        found["account"] = clip("".join(parts.get("31", [])), 64)
        return found
    if _KEYED.search(text):
        pieces = _KEYED.split(text)
        values: dict[str, str] = {}
        for key, value in zip(pieces[1::2], pieces[2::2], strict=False):
            values.setdefault(key.upper(), value.strip("/ "))
        found["name"] = clip(values.get("NAME") or values.get("ORDP") or values.get("BENM"), 140)
        found["account"] = clip(values.get("IBAN") or values.get("ACCT"), 64)
        found["remittance"] = clip(" ".join(filter(None, [values.get("REMI"), values.get("EREF")])), 1000)
        return found
    found["remittance"] = clip(text, 1000)
    return found
