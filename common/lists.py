"""What every list page shares: pagination with a page size chosen from PAGE_SIZES, a CSV export of the
filtered rows, the totals per currency of the listed amounts, and the query string without the page
number (for links that keep the filters, the sort and the page size: a list's URL is its whole view, to
bookmark or share). The filters and the sort are the list's FilterSet's (common.filters)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import Count, Sum, Window
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from common.ids import parse_id, parse_page

PER_PAGE = 25
PAGE_SIZES = (25, 50, 100, 200)  # the `per_page` parameter's choices; anything else is PER_PAGE
# Counting stops here on a list that asks for it (`paginate_capped`). Measured in one process on 300,000
# payments (PostgreSQL 15, the shared 2-core box under the other engineers' load, issue 20): COUNT(*) of the
# unfiltered payment list, an index-only scan of every entry, 29 ms median without parallel workers and 46 ms
# with them; the same count stopped at 10,001 rows (`LIMIT` in a subquery) 1.7 ms. A method alone (50,000
# payments) 9 ms; a status, a method and four months (3,400) 0.9 ms. So a list whose count grows with the
# table counts up to the cap and says "10,000+" beyond it.
COUNT_CAP = 10_000


class ListPaginator(Paginator):
    """A paginator whose page offers the page sizes (components/_pagination.html)."""

    page_sizes = PAGE_SIZES


def page_size(request: HttpRequest) -> int:
    """The page size the URL asks for (`per_page`, one of PAGE_SIZES), else PER_PAGE."""
    size = parse_id(request.GET.get("per_page"))
    return size if size in PAGE_SIZES else PER_PAGE


def paginate(request: HttpRequest, queryset, per_page: int | None = None, count: int | None = None):
    """A page of the queryset (1 COUNT + 1 SELECT), never an error for a bad page number; `per_page`: the
    URL's page size (page_size) unless given. `count`, when the caller has counted the queryset already,
    saves the COUNT."""
    paginator = ListPaginator(queryset, per_page or page_size(request))
    if count is not None:
        paginator.count = count  # a cached_property: the paginator will not count
    return paginator.get_page(request.GET.get("page"))


def paginate_capped(request: HttpRequest, queryset, per_page: int | None = None, cap: int = COUNT_CAP):
    """`paginate` counting at most `cap` + 1 rows (a COUNT over a LIMIT): the count is exact up to `cap`;
    beyond it the paginator's `count_label` says "10,000+" and each page reads one row more than it shows
    to know whether there is a next one (every page stays reachable, 1 COUNT + 1 SELECT as before). A page
    number past the rows is answered by `paginate` (counting them all, as rare as a hand-typed URL)."""
    per_page = per_page or page_size(request)
    counted = queryset.order_by()[:cap + 1].count()
    if counted <= cap:
        return paginate(request, queryset, per_page, count=counted)
    number = parse_page(request.GET.get("page") or "1") or 0
    offset = (number - 1) * per_page
    rows = list(queryset[offset:offset + per_page + 1]) if number >= 1 else []
    if not rows:
        return paginate(request, queryset, per_page)
    paginator = ListPaginator(queryset, per_page)
    paginator.count = offset + len(rows)  # a next page exactly when a row beyond this one was read
    paginator.count_label = f"{cap:,}+"
    return Page(rows[:per_page], number, paginator)


def paginate_deep(request: HttpRequest, queryset, per_page: int | None = None, cap: int = COUNT_CAP):
    """`paginate_capped` for a list whose order an index gives whole (the filter in the index's condition or
    columns, the order its columns read either way, the primary key last), so that a deep page costs what the
    first one does, plus a walk over index entries:

    - the page's primary keys are read first (`values_list("pk")`: an index-only scan, OFFSET skipping index
      entries instead of building and joining every row before the page), then the page's rows by primary key
      with the queryset's select_related and prefetch_related (`_by_pk`);
    - the last page is the first page of the reversed order (`queryset.reverse()`, read backwards from the same
      index): as quick at page 4,000 as at page 1. A page number past the rows gives it, as everywhere.

    Counting stops at `cap` as in paginate_capped ("10,000+") for the pages before it; for a page past the cap
    (the last one, or a number past the rows) every row is counted instead (an index-only count, the same walk an
    OFFSET would make), so that the last page is read backwards; it is still shown as "10,000+". Queries: one count, the page's keys, its rows
    (and each prefetch), whatever the page and the size of the list. Measured on 100,000 open statement lines
    (bench DB, 2026-12-07, load 5): the inbox's page 4,000 by OFFSET over the rows 614 ms (a sort of every open
    line with its joins), its keys from the index 22 ms, the last page read backwards 0.2 ms."""
    per_page = per_page or page_size(request)
    raw = request.GET.get("page") or "1"
    number = parse_page(raw)
    if number is None and not _integer(raw):
        number = 1  # not a number: the first page, as Paginator.get_page gives it
    paginator = ListPaginator(queryset, per_page)
    if number is not None and (number - 1) * per_page < cap:
        counted = queryset.order_by()[:cap + 1].count()
        if counted <= cap:
            paginator.count = counted  # a cached_property: the paginator will not count again
        else:
            offset = (number - 1) * per_page
            pks = list(queryset.values_list("pk", flat=True)[offset:offset + per_page + 1])
            if pks:
                paginator.count = offset + len(pks)  # a next page exactly when a key beyond this page was read
                paginator.count_label = f"{cap:,}+"
                return Page(_rows_of(queryset, pks[:per_page]), number, paginator)
            paginator.count = queryset.order_by().count()  # the rows went since they were counted
    else:  # a page past the cap (the last one, or a number past the rows), 0 or below: count every row, not twice
        paginator.count = queryset.order_by().count()
        if paginator.count > cap:
            paginator.count_label = f"{cap:,}+"  # as on the pages before it (paginate_capped's last page says so too)
    try:
        number = paginator.validate_number(raw)
    except PageNotAnInteger:
        number = 1
    except EmptyPage:
        number = paginator.num_pages
    offset = (number - 1) * per_page
    if number > 1 and number == paginator.num_pages:
        keys = queryset.reverse().values_list("pk", flat=True)[:paginator.count - offset]
        pks = list(reversed(list(keys)))
    else:
        pks = list(queryset.values_list("pk", flat=True)[offset:offset + per_page])
    return Page(_rows_of(queryset, pks), number, paginator)


def _integer(raw: str) -> bool:
    """`raw` is a whole number as Paginator.validate_number reads one (0 and below, or too large for parse_page)."""
    try:
        int(raw)
    except ValueError:
        return False
    return True


def _rows_of(queryset, pks: list) -> list:
    """The rows of `pks`, in that order (a row gone since the keys were read: left out)."""
    by_pk = {obj.pk: obj for obj in _by_pk(queryset, pks)}
    return [by_pk[pk] for pk in pks if pk in by_pk]


def paginate_one_pass(request: HttpRequest, queryset, per_page: int | None = None):
    """`paginate` reading the matching rows once instead of twice: the page's primary keys with the count of
    every matching row beside them (`COUNT(*) OVER ()`, over the sort keys and ids only), then the page's rows
    by primary key. For a filter that an index answers but whose rows PostgreSQL must still visit one by one
    (a GIN search: COUNT then SELECT visit them twice), not for an unfiltered list (its COUNT is an index-only
    scan and its page a LIMIT on an index). The page's rows are read by primary key alone (`_by_pk`), so the
    queryset may not select annotations. A page number that is not a page of rows (past the end, 0, not a
    number) is answered by `paginate`, with its usual fallbacks."""
    per_page = per_page or page_size(request)
    paginator = ListPaginator(queryset, per_page)
    raw = request.GET.get("page") or "1"
    number = parse_page(raw) or 0
    if number < 1:
        return paginator.get_page(raw)
    offset = (number - 1) * per_page
    head = list(queryset.annotate(_count=Window(Count("*"))).values_list("pk", "_count")[offset:offset + per_page])
    if not head:
        return paginator.get_page(raw)
    paginator.count = head[0][1]  # a cached_property: the paginator will not count again
    by_pk = {obj.pk: obj for obj in _by_pk(queryset, [pk for pk, _ in head])}
    return Page([by_pk[pk] for pk, _ in head if pk in by_pk], number, paginator)  # a row gone since: left out


def _by_pk(queryset, pks: list):
    """The rows of `pks` as `queryset` would give them (its select_related, prefetch_related and deferred fields), without testing
    its filter again: the ids came from it (a search expression evaluated again per row cost 0.2 ms a page)."""
    assert not queryset.query.annotation_select, "annotations would be lost: read the rows with the queryset"
    rows = queryset.model._default_manager.filter(pk__in=pks).order_by()  # put in the keys' order by the callers
    rows.query.select_related = queryset.query.select_related
    rows.query.deferred_loading = queryset.query.deferred_loading
    return rows.prefetch_related(*queryset._prefetch_related_lookups)


def querystring_without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def querystring_without_page(request: HttpRequest) -> str:
    return querystring_without(request, "page", "format")


def totals_by_currency(rows, amount: str, currency: str = "currency") -> list[dict]:
    """The sum of `amount` over every row of the (filtered) queryset, per currency: [{"currency", "total",
    "count"}], one GROUP BY query whatever the row count."""
    grouped = rows.order_by().values(currency).annotate(total=Sum(amount), count=Count("*")).order_by(currency)
    return [{"currency": row[currency], "total": row["total"], "count": row["count"]} for row in grouped]


# The totals of a list are a request of their own, made by the page once it is shown (components/
# _list_toolbar.html, hx-trigger="load"): they read every filtered row, the page only its page. Measured on the
# generated data (300,000 payments and 300,000 invoices, PostgreSQL 15, the shared 2-core box under the other
# engineers' load): the unfiltered payment list's page 5-14 ms, its totals 112 ms; the invoice list's totals
# 157 ms. Inside the page they would make the list ten times slower than its rows.
TOTALS_PART = "totals"


def totals_response(request: HttpRequest, filters, totals: tuple[str, str] | None) -> HttpResponse | None:
    """The totals per currency of every filtered row (components/_list_totals.html) when the page asks for
    them (`?part=totals`), else None."""
    if not totals or request.GET.get("part") != TOTALS_PART:
        return None
    return render(request, "components/_list_totals.html", {"totals": totals_by_currency(filters.qs, *totals)})


def list_context(request: HttpRequest, filters, page, *, totals: tuple[str, str] | None = None) -> dict:
    """What the shared list partials read (components/_list_toolbar.html, _sort.html, _pagination.html):
    the filter form, the page, the query string that keeps the view, the current sort and whether the list
    has totals (loaded by the page: totals_response)."""
    return {"form": filters.form, "page": page, "qs": querystring_without_page(request),
            "sort": filters.current_sort, "has_totals": bool(totals)}


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[list], ) -> StreamingHttpResponse:
    """Stream rows as CSV (constant memory, whatever the row count)."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_text(value) -> str:
    """Text a spreadsheet shows as text: a leading =, +, -, @, tab or carriage return (a formula) is escaped
    with a quote. For free text only: amounts are written as numbers and never pass through here."""
    value = "" if value is None else str(value)
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def iterate(queryset, row: Callable, chunk_size: int = 2000):
    for obj in queryset.iterator(chunk_size=chunk_size):
        yield row(obj)


def csv_filename(prefix: str) -> str:
    """`<prefix>-YYYYmmdd-HHMMSS.csv`: an export's name says when it was taken."""
    return f"{prefix}-{timezone.now().strftime('%Y%m%d-%H%M%S')}.csv"


def redirect_page(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect to `url`; for an htmx request, a full page load of it (HX-Redirect), not a swap."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def htmx_page(request: HttpRequest, template: str, fragment: str, context: dict) -> HttpResponse:
    """The page; for an htmx request only its `fragment` partial (a form again with its errors, a list's table)."""
    return render(request, f"{template}#{fragment}" if request.htmx else template, context)


def htmx_template(request: HttpRequest, template: str, target: str) -> str:
    """The page, or only its `target` partial when htmx asks to swap that element."""
    if request.htmx and request.htmx.target == target:
        return f"{template}#{target}"
    return template


def list_page(request: HttpRequest, filters, *, template: str, target: str, csv_prefix: str,
              csv_header: list[str], csv_row: Callable, one_pass: bool = False,
              capped: bool = False, deep: bool = False, totals: tuple[str, str] | None = None,
              context: dict | None = None) -> HttpResponse:
    """A plain list page of a FilterSet's rows (`common.filters.ListFilterSet`): `?format=csv` streams every
    filtered row, otherwise one page of them with the filter form (only the `target` table when htmx asks
    for it). `capped`: count at most COUNT_CAP rows (`paginate_capped`); `deep`: that, with the page's keys read
    from the order's index first and the last page backwards (`paginate_deep`); `totals`: list_context's; `context`:
    what else the template reads (a constant, a threshold), beside list_context's."""
    rows = filters.qs
    if wants_csv(request):
        return csv_response(csv_filename(csv_prefix), csv_header, iterate(rows, csv_row))
    if (response := totals_response(request, filters, totals)) is not None:
        return response
    if one_pass:
        page = paginate_one_pass(request, rows)
    elif deep:
        page = paginate_deep(request, rows)
    else:
        page = paginate_capped(request, rows) if capped else paginate(request, rows)
    return render(request, htmx_template(request, template, target),
                  {**(context or {}), **list_context(request, filters, page, totals=totals)})
