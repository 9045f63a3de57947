"""ISO 20022 camt.053 (Bank-to-Customer Statement), versions .001.02 to .001.08 and later: the elements read
here have the same names and places in all of them.

Parsed with lxml with entity resolution, DTD loading and network access off, and any document that carries a
DOCTYPE refused outright (a bank statement never has one): no XXE, no entity expansion ("billion laughs"),
no fetching. Amounts are read as Decimal from the text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from lxml import etree

from .base import ParsedLine, ParsedStatement, StatementFormatError, clip

NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053."


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def parse(content: bytes) -> ParsedStatement:
    head = content[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in content.lower():
        raise StatementFormatError("XML with a DOCTYPE or entity declarations is refused: bank statements never "
                                   "carry one.", _line_of(content, b"<!"))
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        raise StatementFormatError(f"not well-formed XML ({exc.msg}).", exc.lineno or None)
    if root.getroottree().docinfo.doctype:
        raise StatementFormatError("XML with a DOCTYPE is refused: bank statements never carry one.", 1)
    namespace = etree.QName(root).namespace or ""
    if not namespace.startswith(NAMESPACE_PREFIX):
        raise StatementFormatError(f"an XML file, but not an ISO 20022 camt.053 statement (its namespace is "
                                   f"{namespace or 'none'}).", root.sourceline)
    ns = {"c": namespace}
    statements = root.findall("c:BkToCstmrStmt/c:Stmt", ns)
    if not statements:
        raise StatementFormatError("a camt.053 document without a statement (BkToCstmrStmt/Stmt).",
                                   root.sourceline)
    if len(statements) > 1:
        accounts = {_account(s, ns) for s in statements}
        if len(accounts) > 1:
            raise StatementFormatError("the file holds statements of several accounts; import one account's "
                                       "statements at a time.", statements[1].sourceline)
    result = ParsedStatement(format="camt053", lines=[])
    first = statements[0]
    result.account = _account(first, ns)
    result.currency = (first.findtext("c:Acct/c:Ccy", "", ns) or "").strip().upper()
    result.statement_ref = clip(first.findtext("c:Id", "", ns), 140)
    for stmt in statements:
        period = stmt.find("c:FrToDt", ns)
        if period is not None:
            start = _date(period.find("c:FrDtTm", ns), "FrDtTm")
            end = _date(period.find("c:ToDtTm", ns), "ToDtTm")
            result.period_from = min(filter(None, [result.period_from, start]), default=None)
            result.period_to = max(filter(None, [result.period_to, end]), default=None)
        for entry in stmt.findall("c:Ntry", ns):
            result.lines.extend(_entry_lines(entry, ns))
    return result


def _line_of(content: bytes, needle: bytes) -> int | None:
    index = content.lower().find(needle.lower())
    return content.count(b"\n", 0, index) + 1 if index >= 0 else None


def _account(stmt, ns) -> str:
    acct = stmt.find("c:Acct/c:Id", ns)
    if acct is None:
        return ""
    return (acct.findtext("c:IBAN", "", ns) or acct.findtext("c:Othr/c:Id", "", ns) or "").strip()


def _date(element, name: str) -> dt.date | None:
    """A camt date: <Dt>2026-11-02</Dt> or <DtTm>2026-11-02T10:00:00</DtTm> (or the element's own text)."""
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    if not text:
        return None
    try:
        if "T" in text:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise StatementFormatError(f"{name} {text!r} is not a date (expected YYYY-MM-DD).", element.sourceline)


def _amount(element, name: str) -> tuple[Decimal, str]:
    if element is None:
        raise StatementFormatError(f"an entry without {name}.")
    text = (element.text or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or "e" in text.lower() or value.as_tuple().exponent < -6:
        raise StatementFormatError(f"{name} {text!r} is not an amount (digits, a point, at most 6 decimals, "
                                   "more than zero).", element.sourceline)
    if value >= Decimal(10) ** 14:
        raise StatementFormatError(f"{name} {text!r} is too large.", element.sourceline)
    currency = (element.get("Ccy") or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise StatementFormatError(f"{name} has no currency (Ccy attribute).", element.sourceline)
    return value, currency


def _sign(element, ns) -> int:
    mark = (element.findtext("c:CdtDbtInd", "", ns) or "").strip()
    if mark == "CRDT":
        return 1
    if mark == "DBIT":
        return -1
    raise StatementFormatError(f"CdtDbtInd {mark!r} is neither CRDT nor DBIT.", element.sourceline)


def _text(element, path: str, ns, length: int = 140) -> str:
    return clip(element.findtext(path, "", ns), length) if element is not None else ""


def _entry_lines(entry, ns) -> list[ParsedLine]:
    status = (entry.findtext("c:Sts/c:Cd", "", ns) or entry.findtext("c:Sts", "", ns) or "BOOK").strip()
    if status != "BOOK":
        return []  # pending (PDNG) and information-only (INFO) entries are not booked money
    amount, currency = _amount(entry.find("c:Amt", ns), "Amt")
    sign = _sign(entry, ns)
    booking = _date(entry.find("c:BookgDt", ns), "BookgDt")
    if booking is None:
        raise StatementFormatError("an entry without a booking date (BookgDt).", entry.sourceline)
    value_date = _date(entry.find("c:ValDt", ns), "ValDt")
    entry_ref = _text(entry, "c:AcctSvcrRef", ns) or _text(entry, "c:NtryRef", ns)
    code = _text(entry, "c:BkTxCd/c:Domn/c:Cd", ns, 35)
    family = _text(entry, "c:BkTxCd/c:Domn/c:Fmly/c:SubFmlyCd", ns, 35)
    bank_code = "/".join(filter(None, [code, family]))
    details = entry.findall("c:NtryDtls/c:TxDtls", ns)
    entry_info = _text(entry, "c:AddtlNtryInf", ns, 500)
    if len(details) <= 1:
        return [_line(details[0] if details else None, ns, amount=amount, sign=sign, currency=currency,
                      booking=booking, value_date=value_date, bank_reference=entry_ref, bank_code=bank_code,
                      fallback_text=entry_info, source_line=entry.sourceline)]
    # A batch booking: one entry of several transactions, each a line of its own with its own amount.
    lines = []
    for index, tx in enumerate(details, start=1):
        tx_amount_element = tx.find("c:Amt", ns)
        if tx_amount_element is None:
            tx_amount_element = tx.find("c:AmtDtls/c:TxAmt/c:Amt", ns)
        tx_amount, tx_currency = _amount(tx_amount_element, "TxDtls/Amt")
        tx_ref = _text(tx, "c:Refs/c:AcctSvcrRef", ns)
        lines.append(_line(tx, ns, amount=tx_amount, sign=sign, currency=tx_currency, booking=booking,
                           value_date=value_date, bank_reference=tx_ref or (f"{entry_ref}/{index}" if entry_ref else ""),
                           bank_code=bank_code, fallback_text=entry_info, source_line=tx.sourceline))
    return lines


def _line(tx, ns, *, amount, sign, currency, booking, value_date, bank_reference, bank_code, fallback_text,
          source_line) -> ParsedLine:
    party = "c:RltdPties/c:Dbtr" if sign > 0 else "c:RltdPties/c:Cdtr"
    party_account = "c:RltdPties/c:DbtrAcct/c:Id" if sign > 0 else "c:RltdPties/c:CdtrAcct/c:Id"
    name = _text(tx, f"{party}/c:Nm", ns) or _text(tx, f"{party}/c:Pty/c:Nm", ns)  # .08 nests the party in Pty
    account = _text(tx, f"{party_account}/c:IBAN", ns, 64) or _text(tx, f"{party_account}/c:Othr/c:Id", ns, 64)
    unstructured = [clip(u.text, 140) for u in tx.findall("c:RmtInf/c:Ustrd", ns)] if tx is not None else []
    structured = [clip(r.text, 140) for r in tx.findall("c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)] \
        if tx is not None else []
    structured += [clip(r.text, 140) for r in tx.findall("c:RmtInf/c:Strd/c:RfrdDocInf/c:Nb", ns)] \
        if tx is not None else []
    remittance = " ".join(filter(None, unstructured + structured)) or fallback_text
    reference = _text(tx, "c:Refs/c:EndToEndId", ns)
    if reference == "NOTPROVIDED":
        reference = ""
    return ParsedLine(booking_date=booking, value_date=value_date, amount=sign * amount, currency=currency,
                      bank_reference=bank_reference, reference=reference, payer_name=name, payer_account=account,
                      remittance_text=clip(remittance, 1000), bank_code=bank_code, source_line=source_line)
