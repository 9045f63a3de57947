"""Statement file parsers. `parse_statement` detects the format from the content (never from the file name):
XML in the camt.053 namespace, SWIFT MT940 (:20:/:25:/:61: tags or a {1: block header), else CSV with the bank
account's column mapping. A file that cannot be read raises StatementFormatError (the line and the reason)."""

from __future__ import annotations

from . import camt053, mt940
from . import csv as csv_parser
from .base import ParsedLine, ParsedStatement, StatementFormatError, decode

__all__ = ["ParsedLine", "ParsedStatement", "StatementFormatError", "parse_statement"]


def parse_statement(content: bytes, account) -> ParsedStatement:
    if not content.strip():
        raise StatementFormatError("the file is empty.")
    if content.lstrip()[:1] == b"<" or content.startswith(b"\xef\xbb\xbf<"):
        return camt053.parse(content.removeprefix(b"\xef\xbb\xbf"))
    text = decode(content)
    if mt940.looks_like_mt940(text):
        return mt940.parse(text)
    return csv_parser.parse(text, account)
