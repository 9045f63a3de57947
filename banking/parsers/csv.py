"""CSV exports of banks that offer neither camt.053 nor MT940, read with the column mapping saved on the bank
account (BankAccount.csv_*): columns are named by the file's header row. Amounts go through the one strict
parser (customers.money.parse_amount) after the bank's decimal comma, if it writes one, is turned into a point."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from customers.money import MoneyError, parse_amount

from .base import ParsedLine, ParsedStatement, StatementFormatError, clip


def parse(text: str, account) -> ParsedStatement:
    if not account.has_csv_mapping:
        raise StatementFormatError(f"not a camt.053 or MT940 file, and the bank account {account.code} has no CSV "
                                   "column mapping (a date column and an amount, or debit and credit, column).")
    delimiter = account.csv_delimiter or ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise StatementFormatError("the file is empty.")
    except csv.Error as exc:
        raise StatementFormatError(f"not readable as CSV ({exc}).", 1)
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    wanted = {"date": account.csv_date_column, "value_date": account.csv_value_date_column,
              "amount": account.csv_amount_column, "debit": account.csv_debit_column,
              "credit": account.csv_credit_column, "reference": account.csv_reference_column,
              "payer": account.csv_payer_column, "payer_account": account.csv_payer_account_column,
              "remittance": account.csv_remittance_column}
    if account.csv_amount_column:
        wanted["debit"] = wanted["credit"] = ""
    index = {}
    for key, name in wanted.items():
        if not name:
            continue
        if name.strip().lower() not in columns:
            raise StatementFormatError(f"the header row has no column {name!r} (the bank account's mapping names "
                                       f"it; the file's columns are {', '.join(h.strip() for h in header)}).", 1)
        index[key] = columns[name.strip().lower()]
    result = ParsedStatement(format="csv", lines=[], currency=account.currency)
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue

            def cell(key, row=row, line=line):
                if key not in index:
                    return ""
                if index[key] >= len(row):
                    raise StatementFormatError(f"the row has {len(row)} columns; column "
                                               f"{header[index[key]].strip()!r} is missing.", line)
                return row[index[key]].strip()

            amount = _amount(account, cell, line)
            if amount == 0:
                continue  # a zero line (a balance or a fee waived) moves no money
            result.lines.append(ParsedLine(
                booking_date=_date(cell("date"), account.csv_date_format, line),
                value_date=_date(cell("value_date"), account.csv_date_format, line) if cell("value_date") else None,
                amount=amount, currency=account.currency, reference=clip(cell("reference"), 140),
                payer_name=clip(cell("payer"), 140), payer_account=clip(cell("payer_account"), 64),
                remittance_text=clip(cell("remittance"), 1000), source_line=line))
    except csv.Error as exc:
        raise StatementFormatError(f"not readable as CSV ({exc}).", reader.line_num)
    dates = [line.booking_date for line in result.lines]
    result.period_from, result.period_to = (min(dates), max(dates)) if dates else (None, None)
    return result


def _date(text: str, fmt: str, line: int) -> dt.date:
    if not text:
        raise StatementFormatError("a row without a date.", line)
    try:
        return dt.datetime.strptime(text, fmt or "%Y-%m-%d").date()
    except ValueError:
        raise StatementFormatError(f"the date {text!r} does not match the account's date format {fmt!r}.", line)


def _number(text: str, decimal_comma: bool, line: int, name: str) -> Decimal:
    raw = text.replace(" ", "").replace("\u00a0", "")
    negative = False
    if raw.startswith("(") and raw.endswith(")"):
        raw, negative = raw[1:-1], True
    if raw.endswith("-"):
        raw, negative = raw[:-1], True
    if raw.startswith("-"):
        raw, negative = raw[1:], not negative
    elif raw.startswith("+"):
        raw = raw[1:]
    if decimal_comma:
        raw = raw.replace(".", "\x00").replace(",", ".").replace("\x00", ",")
    try:
        value = parse_amount(raw, field=name, allow_zero=True)
    except MoneyError as exc:
        raise StatementFormatError(f"{exc} (read {text!r}).", line)
    return -value if negative else value


def _amount(account, cell, line: int) -> Decimal:
    if account.csv_amount_column:
        return _number(cell("amount"), account.csv_decimal_comma, line, "The amount")
    debit, credit = cell("debit"), cell("credit")
    if debit and credit:
        raise StatementFormatError("a row with both a debit and a credit amount.", line)
    if not debit and not credit:
        raise StatementFormatError("a row with neither a debit nor a credit amount.", line)
    if credit:
        return abs(_number(credit, account.csv_decimal_comma, line, "The credit"))
    return -abs(_number(debit, account.csv_decimal_comma, line, "The debit"))
