"""What every list page shares: pagination, a CSV export of the filtered rows, and the query string
without the page number (for links that keep the filters)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

PER_PAGE = 25


def paginate(request: HttpRequest, queryset, per_page: int = PER_PAGE):
    """A page of the queryset (1 COUNT + 1 SELECT), never an error for a bad page number."""
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get("page"))


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
              csv_header: list[str], csv_row: Callable) -> HttpResponse:
    """A plain list page: `?format=csv` streams every filtered row, otherwise one page of them with the
    filter form (only the `target` table when htmx asks for it)."""
    if wants_csv(request):
        return csv_response(csv_filename(csv_prefix), csv_header, iterate(rows, csv_row))
    context = {"form": form, "page": paginate(request, rows), "qs": querystring_without_page(request)}
    return render(request, htmx_template(request, template, target), context)
