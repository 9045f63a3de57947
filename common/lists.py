"""What every list page shares: pagination, a CSV export of the filtered rows, and the query string
without the page number (for links that keep the filters)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable

from django.core.paginator import Page, Paginator
from django.db.models import Count, Window
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from common.ids import parse_page

PER_PAGE = 25


def paginate(request: HttpRequest, queryset, per_page: int = PER_PAGE, count: int | None = None):
    """A page of the queryset (1 COUNT + 1 SELECT), never an error for a bad page number. `count`, when the
    caller knows how many rows the queryset has (a count the database keeps), saves the COUNT."""
    paginator = Paginator(queryset, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: the paginator will not count
    return paginator.get_page(request.GET.get("page"))


def paginate_one_pass(request: HttpRequest, queryset, per_page: int = PER_PAGE):
    """`paginate` reading the matching rows once instead of twice: the page's primary keys with the count of
    every matching row beside them (`COUNT(*) OVER ()`, over the sort keys and ids only), then the page's rows
    by primary key. For a filter that an index answers but whose rows PostgreSQL must still visit one by one
    (a GIN search: COUNT then SELECT visit them twice), not for an unfiltered list (its COUNT is an index-only
    scan and its page a LIMIT on an index). The page's rows are read by primary key alone (`_by_pk`), so the
    queryset may not select annotations. A page number that is not a page of rows (past the end, 0, not a
    number) is answered by `paginate`, with its usual fallbacks."""
    paginator = Paginator(queryset, per_page)
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
    """The rows of `pks` as `queryset` would give them (its select_related and deferred fields), without testing
    its filter again: the ids came from it (a search expression evaluated again per row cost 0.2 ms a page)."""
    assert not queryset.query.annotation_select, "annotations would be lost: read the rows with the queryset"
    rows = queryset.model._default_manager.filter(pk__in=pks)
    rows.query.select_related = queryset.query.select_related
    rows.query.deferred_loading = queryset.query.deferred_loading
    return rows


def querystring_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("format", None)
    return params.urlencode()


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


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def iterate(queryset, row: Callable, chunk_size: int = 2000):
    for obj in queryset.iterator(chunk_size=chunk_size):
        yield row(obj)


def csv_filename(prefix: str) -> str:
    """`<prefix>-YYYYmmdd-HHMMSS.csv`: an export's name says when it was taken."""
    return f"{prefix}-{timezone.now().strftime('%Y%m%d-%H%M%S')}.csv"


def htmx_template(request: HttpRequest, template: str, target: str) -> str:
    """The page, or only its `target` partial when htmx asks to swap that element."""
    if request.htmx and request.htmx.target == target:
        return f"{template}#{target}"
    return template


def list_page(request: HttpRequest, *, form, rows, template: str, target: str, csv_prefix: str,
              csv_header: list[str], csv_row: Callable, one_pass: bool = False,
              count: Callable[[], int | None] | None = None) -> HttpResponse:
    """A plain list page: `?format=csv` streams every filtered row, otherwise one page of them with the
    filter form (only the `target` table when htmx asks for it). `count()`, if given, says how many rows
    there are without counting them (None: count them)."""
    if wants_csv(request):
        return csv_response(csv_filename(csv_prefix), csv_header, iterate(rows, csv_row))
    known = count() if count is not None else None
    page = paginate_one_pass(request, rows) if one_pass else paginate(request, rows, count=known)
    context = {"form": form, "page": page, "qs": querystring_without_page(request)}
    return render(request, htmx_template(request, template, target), context)
