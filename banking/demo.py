"""Demo banking for `manage.py seed_demo` (after the finance demo): the company's SGD bank account and last
month's camt.053 statement of it, imported: receipts quoting open invoices of the demo customers, one naming
only the payer, one from a payer nobody knows, and a bank charge (money out).

The statement is built from the demo data as it stands (invoice numbers and open amounts), so its lines are the
ones a finance user would meet. It is also written to `.data/demo-statements/` for trying the upload page and
`manage.py import_statement`. Idempotent: the account is keyed by its code, the statement by its file name."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from lxml import etree

from audit.actors import Actor
from invoices.models import OPEN_STATUSES, Invoice

from .models import BankAccount, Statement
from .services.accounts import bank_account_create
from .services.imports import statement_import

ACTOR = Actor.system("seed-demo")
CODE = "dbs-sgd"
IBAN = "SG12DBSS00001234567890"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def camt053_document(*, iban: str, currency: str, statement_id: str, entries: list[dict]) -> bytes:
    """A camt.053.001.08 statement: each entry a dict of amount (signed Decimal), date, ref (the bank's),
    e2e, name, account, text. Built with lxml, so every value is escaped."""
    def sub(parent, tag, text=None, **attrs):
        element = etree.SubElement(parent, f"{{{NS}}}{tag}", **attrs)
        if text is not None:
            element.text = str(text)
        return element

    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})
    stmt_root = sub(root, "BkToCstmrStmt")
    header = sub(stmt_root, "GrpHdr")
    sub(header, "MsgId", f"MSG-{statement_id}")
    sub(header, "CreDtTm", timezone.now().replace(microsecond=0).isoformat())
    stmt = sub(stmt_root, "Stmt")
    sub(stmt, "Id", statement_id)
    acct = sub(stmt, "Acct")
    sub(sub(acct, "Id"), "IBAN", iban)
    sub(acct, "Ccy", currency)
    for e in entries:
        amount: Decimal = e["amount"]
        credit = amount > 0
        ntry = sub(stmt, "Ntry")
        size = abs(amount)
        sub(ntry, "Amt", f"{size:.2f}" if size == size.quantize(Decimal("0.01")) else f"{size.normalize():f}",
            Ccy=currency)
        sub(ntry, "CdtDbtInd", "CRDT" if credit else "DBIT")
        sub(sub(ntry, "Sts"), "Cd", "BOOK")
        sub(sub(ntry, "BookgDt"), "Dt", e["date"].isoformat())
        sub(sub(ntry, "ValDt"), "Dt", e["date"].isoformat())
        sub(ntry, "AcctSvcrRef", e["ref"])
        tx = sub(sub(ntry, "NtryDtls"), "TxDtls")
        sub(sub(tx, "Refs"), "EndToEndId", e.get("e2e") or "NOTPROVIDED")
        parties = sub(tx, "RltdPties")
        role = "Dbtr" if credit else "Cdtr"
        sub(sub(sub(parties, role), "Pty"), "Nm", e.get("name", ""))
        if e.get("account"):
            sub(sub(sub(parties, f"{role}Acct"), "Id"), "IBAN", e["account"])
        if e.get("text"):
            sub(sub(tx, "RmtInf"), "Ustrd", e["text"])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _statement_entries(today: dt.date) -> list[dict]:
    invoices = list(Invoice.objects.filter(status__in=OPEN_STATUSES, currency="SGD").select_related("customer")
                    .order_by("issue_date", "pk")[:6])
    entries, day = [], today - dt.timedelta(days=20)
    for n, invoice in enumerate([i for i in invoices if i.amount_outstanding > 0], start=1):
        day += dt.timedelta(days=2)
        if n == 3:  # the payer names itself only
            entries.append({"amount": invoice.amount_outstanding, "date": day, "ref": f"DEMO-BANK-{n:04d}",
                            "e2e": f"{invoice.customer.code}-{n}", "name": invoice.customer.name.upper(),
                            "text": "Payment for services"})
            continue
        entries.append({"amount": invoice.amount_outstanding, "date": day, "ref": f"DEMO-BANK-{n:04d}",
                        "e2e": f"{invoice.customer.code}-{n}", "name": invoice.customer.name,
                        "text": f"{invoice.number} {invoice.customer.name}"})
    entries.append({"amount": Decimal("432.10"), "date": today - dt.timedelta(days=4), "ref": "DEMO-BANK-0090",
                    "name": "WAYNE ENTERPRISES", "text": "Invoice payment"})
    entries.append({"amount": Decimal("-12.50"), "date": today - dt.timedelta(days=1), "ref": "DEMO-BANK-0091",
                    "name": "DBS Bank", "text": "Monthly account fee"})
    return entries


def seed(stdout, folder: Path | None = None) -> str:
    created = []
    account = BankAccount.objects.filter(code=CODE).first()
    if account is None:
        account = bank_account_create(name="DBS operating (SGD)", code=CODE, iban=IBAN, bic="DBSSSGSGXXX",
                                      currency="SGD", actor=ACTOR, at=timezone.now())
        created.append("bank account")
    today = timezone.localdate()
    file_name = "demo-statement.xml"
    if not Statement.objects.filter(account=account, file_name=file_name).exists():
        content = camt053_document(iban=IBAN, currency="SGD", statement_id=f"DEMO-{today:%Y%m}",
                                   entries=_statement_entries(today))
        folder = folder or Path(settings.BASE_DIR) / ".data" / "demo-statements"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file_name).write_bytes(content)
        except OSError:
            pass  # a read-only checkout: the statement is imported all the same
        statement = statement_import(account_id=account.pk, file_name=file_name, content=content, actor=ACTOR,
                                     at=timezone.now())
        created.append(f"statement of {statement.lines_new} lines")
    return ", ".join(created) or "nothing new"
