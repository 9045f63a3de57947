"""The statement parsers, one format at a time, on sample files written from the published layouts, and the
files they must refuse (with the line and the reason)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from banking.models import BankAccount
from banking.parsers import StatementFormatError, parse_statement
from tests.banking.factories import CSV_BANK_A, CSV_BANK_B, IBAN, camt053, sample


def account(**mapping) -> BankAccount:
    return BankAccount(name="DBS", code="dbs", iban=IBAN, currency="SGD", **mapping)


class TestCamt053:
    def test_reads_the_booked_entries_of_a_001_02_statement(self):
        parsed = parse_statement(sample("camt053_001_02.xml"), account())
        assert parsed.format == "camt053"
        assert parsed.account == IBAN and parsed.currency == "SGD" and parsed.statement_ref == "STMT-2026-11-001"
        assert (parsed.period_from, parsed.period_to) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
        assert [line.amount for line in parsed.lines] == [Decimal("1090.00"), Decimal("-250.50"), Decimal("75.25")]
        first = parsed.lines[0]
        assert first.booking_date == dt.date(2026, 11, 3) and first.value_date == dt.date(2026, 11, 3)
        assert first.bank_reference == "DBS-20261103-000001" and first.reference == "ACME-PAY-7781"
        assert first.payer_name == "ACME TRADING PTE LTD" and first.payer_account == "SG98OCBC0000555511112222"
        assert first.remittance_text == "INV-2026-000159 ACME"
        assert parsed.lines[1].payer_name == "Beta Telecom Services"  # the creditor of money paid out
        assert parsed.lines[2].reference == "" and parsed.lines[2].bank_reference == ""  # NOTPROVIDED, no ref

    def test_reads_a_001_08_statement_with_nested_parties_and_a_batch_booking(self):
        parsed = parse_statement(sample("camt053_001_08.xml"), account())
        assert [(line.amount, line.payer_name) for line in parsed.lines] == [
            (Decimal("500.00"), "Acme Trading Pte Ltd"), (Decimal("120.00"), "Delta Mobile"),
            (Decimal("180.00"), "Epsilon Calls")]
        assert parsed.lines[0].booking_date == dt.date(2026, 12, 1)  # from a DtTm
        assert parsed.lines[0].remittance_text == "INV-2026-000160"  # structured remittance
        assert [line.bank_reference for line in parsed.lines[1:]] == ["DBS-20261201-000102-1", "DBS-20261201-000102-2"]

    def test_refuses_an_external_entity_without_reading_it(self, tmp_path):
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP SECRET")
        xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>\n'
               '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>'
               '<Ntry><Amt Ccy="SGD">1</Amt><AddtlNtryInf>&x;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>')
        with pytest.raises(StatementFormatError, match="DOCTYPE") as caught:
            parse_statement(xxe.encode(), account())
        assert caught.value.line == 2 and "TOP SECRET" not in str(caught.value)

    def test_refuses_a_billion_laughs_at_once(self):
        entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        bomb = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">{entities}]>'
                '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&l9;</Document>')
        with pytest.raises(StatementFormatError, match="DOCTYPE"):
            parse_statement(bomb.encode(), account())

    def test_refuses_xml_that_is_not_well_formed_with_its_line(self):
        with pytest.raises(StatementFormatError, match="not well-formed") as caught:
            parse_statement(b'<?xml version="1.0"?>\n<Document>\n<Stmt>\n</Document>', account())
        assert caught.value.line == 4

    def test_refuses_other_xml(self):
        with pytest.raises(StatementFormatError, match="not an ISO 20022 camt.053"):
            parse_statement(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>', account())

    def test_refuses_a_bad_booking_date_with_its_line(self):
        content = camt053([{"amount": "10.00", "date": "2026-11-03"}, {"amount": "20.00", "date": "2026-13-45"}])
        with pytest.raises(StatementFormatError, match="'2026-13-45' is not a date"):
            parse_statement(content, account())

    @pytest.mark.parametrize("amount", ["1e5", "-10.00", "0", "abc", "1.1234567", "NaN"])
    def test_refuses_an_amount_that_is_not_one(self, amount):
        with pytest.raises(StatementFormatError, match="is not an amount"):
            parse_statement(camt053([{"amount": amount}]), account())


class TestMt940:
    def test_reads_61_and_86_lines(self):
        parsed = parse_statement(sample("mt940.sta"), account())
        assert parsed.format == "mt940" and parsed.account == IBAN and parsed.currency == "SGD"
        assert parsed.statement_ref == "STMT2611"
        assert [line.amount for line in parsed.lines] == [Decimal("1090.00"), Decimal("-250.50"),
                                                           Decimal("75.25"), Decimal("75.25")]
        first = parsed.lines[0]
        assert (first.booking_date, first.bank_reference, first.reference) == (
            dt.date(2026, 11, 3), "DBS1103000001", "ACME-PAY-7781")
        assert (first.payer_name, first.payer_account, first.remittance_text) == (
            "ACME TRADING PTE LTD", "SG98OCBC0000555511112222", "INV-2026-000159 ACME")
        assert first.source_line == 6
        assert parsed.lines[2].reference == "" and parsed.lines[2].remittance_text == "GAMMA NETWORKS NOVEMBER INVOICE"

    def test_refuses_a_bad_date_with_its_line(self):
        content = sample("mt940.sta").replace(b":61:2611051105D", b":61:2613451105D")
        with pytest.raises(StatementFormatError, match="261345 .* is not a date") as caught:
            parse_statement(content, account())
        assert caught.value.line == 8

    def test_refuses_a_61_line_without_an_amount(self):
        content = sample("mt940.sta").replace(b":61:2611051105D250,50NTRF", b":61:2611051105DXNTRF")
        with pytest.raises(StatementFormatError, match="not date, debit/credit mark and amount") as caught:
            parse_statement(content, account())
        assert caught.value.line == 8


class TestCsv:
    def test_reads_a_signed_amount_column(self):
        parsed = parse_statement(sample("bank_a.csv"), account(**CSV_BANK_A))
        assert [(line.booking_date, line.amount) for line in parsed.lines] == [
            (dt.date(2026, 11, 3), Decimal("1090")), (dt.date(2026, 11, 5), Decimal("-250.5")),
            (dt.date(2026, 11, 7), Decimal("75.25"))]
        assert parsed.lines[0].reference == "ACME-PAY-7781" and parsed.lines[0].payer_name == "ACME TRADING PTE LTD"
        assert parsed.lines[0].remittance_text == "INV-2026-000159 ACME"

    def test_reads_debit_and_credit_columns_with_decimal_commas_in_latin_1(self):
        parsed = parse_statement(sample("bank_b.csv"), account(**CSV_BANK_B))
        assert [line.amount for line in parsed.lines] == [Decimal("1090"), Decimal("-250.5"), Decimal("75.25")]
        assert parsed.lines[1].value_date == dt.date(2026, 11, 5)

    def test_refuses_a_file_without_a_mapping(self):
        with pytest.raises(StatementFormatError, match="no CSV column mapping"):
            parse_statement(sample("bank_a.csv"), account())

    def test_refuses_a_missing_column(self):
        with pytest.raises(StatementFormatError, match="no column 'Betrag'") as caught:
            parse_statement(sample("bank_a.csv"), account(**{**CSV_BANK_A, "csv_amount_column": "Betrag"}))
        assert caught.value.line == 1

    def test_refuses_a_bad_date_with_its_line(self):
        content = sample("bank_a.csv").replace(b"2026-11-05", b"05/11/2026")
        with pytest.raises(StatementFormatError, match="'05/11/2026' does not match") as caught:
            parse_statement(content, account(**CSV_BANK_A))
        assert caught.value.line == 3

    def test_refuses_an_amount_in_an_exponent(self):
        content = sample("bank_a.csv").replace(b"75.25", b"7.5e1")
        with pytest.raises(StatementFormatError, match="exponent") as caught:
            parse_statement(content, account(**CSV_BANK_A))
        assert caught.value.line == 4

    def test_refuses_nul_bytes(self):
        with pytest.raises(StatementFormatError, match="NUL"):
            parse_statement(b"Date,Amount\n2026-11-03,\x001\n", account(**CSV_BANK_A))


def test_an_empty_file_is_refused():
    with pytest.raises(StatementFormatError, match="empty"):
        parse_statement(b"  \n", account())
