"""Ids (and page numbers) typed into a URL or a form: ASCII digits only, within PostgreSQL's bigint.

`str.isdigit()` is not the check: it is True for '²' (which int() then refuses: a 500) and for '١٢' (which
int() reads as 12), and a long run of digits overflows bigint in the query. Anything else is "no id"."""

from __future__ import annotations

BIGINT_MAX = 2**63 - 1


def parse_id(value: object) -> int | None:
    """The positive integer `value` spells in ASCII digits (at most bigint), else None."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= BIGINT_MAX else None


def from_query(request, name: str, queryset):
    """The row of `queryset` whose id the query string gives as `name` (a link that preselects it on a form:
    ?customer=12), else None."""
    pk = parse_id(request.GET.get(name))
    return queryset.filter(pk=pk).first() if pk else None


# No list has a billion pages; a larger page number would overflow the query's OFFSET (page x per-page).
MAX_PAGE = 10**9


def parse_page(value: object) -> int | None:
    """A page number typed into a URL (as parse_id, at most MAX_PAGE), else None."""
    number = parse_id(value)
    return number if number is not None and number <= MAX_PAGE else None
