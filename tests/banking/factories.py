"""Banking test data: bank accounts made through the service, sample statement files from samples/.

    from tests.banking.factories import bank_account, sample
"""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from banking.models import BankAccount
from banking.services.accounts import bank_account_create
from tests.customers.factories import SYSTEM

SAMPLES = Path(__file__).parent / "samples"
IBAN = "SG12DBSS00001234567890"

CSV_BANK_A = {"csv_date_column": "Date", "csv_amount_column": "Amount", "csv_payer_column": "Payer",
              "csv_reference_column": "Reference", "csv_remittance_column": "Description"}
CSV_BANK_B = {"csv_delimiter": ";", "csv_date_column": "Buchungstag", "csv_date_format": "%d.%m.%Y",
              "csv_value_date_column": "Valuta", "csv_debit_column": "Soll", "csv_credit_column": "Haben",
              "csv_decimal_comma": True, "csv_payer_column": "Auftraggeber",
              "csv_remittance_column": "Verwendungszweck"}


def bank_account(code: str = "dbs-sgd", *, currency: str = "SGD", iban: str = IBAN, **mapping) -> BankAccount:
    return bank_account_create(name=f"Bank {code}", code=code, iban=iban, currency=currency, actor=SYSTEM,
                               at=timezone.now(), **mapping)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def camt053(entries: list[dict], *, iban: str = IBAN, currency: str = "SGD", version: str = "02") -> bytes:
    """A camt.053 statement of `entries` (amount, sign "CRDT"/"DBIT", date, ref, e2e, name, text), laid out as
    the samples are. For tests that need many or particular lines."""
    parts = []
    for e in entries:
        amount, mark = str(e["amount"]), e.get("sign", "CRDT")
        party = "Dbtr" if mark == "CRDT" else "Cdtr"
        ref = f"<AcctSvcrRef>{e['ref']}</AcctSvcrRef>" if e.get("ref") else ""
        parts.append(
            f"<Ntry><Amt Ccy=\"{e.get('currency', currency)}\">{amount}</Amt><CdtDbtInd>{mark}</CdtDbtInd>"
            f"<Sts>BOOK</Sts><BookgDt><Dt>{e.get('date', '2026-11-03')}</Dt></BookgDt>{ref}"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{e.get('e2e', 'NOTPROVIDED')}</EndToEndId></Refs>"
            f"<RltdPties><{party}><Nm>{e.get('name', '')}</Nm></{party}></RltdPties>"
            f"<RmtInf><Ustrd>{e.get('text', '')}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"><BkToCstmrStmt>'
            f"<GrpHdr><MsgId>T</MsgId><CreDtTm>2026-12-01T06:00:00</CreDtTm></GrpHdr><Stmt><Id>T-1</Id>"
            f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
            + "".join(parts) + "</Stmt></BkToCstmrStmt></Document>").encode()
