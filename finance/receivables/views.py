"""The reports: the reports index and the aged receivables report (today from the materialized view, with a
Refresh now; a past day rebuilt from the rows), on the page and as CSV."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common.ids import parse_page
from common.lists import (
    PER_PAGE,
    csv_response,
    csv_text,
    paginate,
    querystring_without_page,
    redirect_page,
    wants_csv,
)
from common.permissions import staff_view

from ..services.aged_receivables import aged_receivables_refresh as aged_receivables_refresh_service
from . import selectors
from .forms import AgedReceivablesForm


# --- Reports --------------------------------------------------------------------------------------------------
@require_GET
@staff_view("finance.view_payment")
def reports(request):
    return render(request, "finance/reports.html", {})


AGED_CSV = ["customer_code", "customer", "currency", "current", "1-30", "31-60", "61-90", "90+", "total",
            "unallocated_cash", "credits"]


@require_GET
@staff_view("finance.view_payment", "invoices.view_invoice")
def aged_receivables(request):
    form = AgedReceivablesForm(request.GET or None)
    csv = wants_csv(request)
    # The page shown (25 customers) comes with the totals in one query (as of today); CSV takes every row.
    number = parse_page(request.GET.get("page")) or 1
    window = (0, None) if csv else ((number - 1) * PER_PAGE, PER_PAGE)
    report = selectors.aged_receivables(**form.values(), window=window)
    if csv:
        rows = [
            [
                csv_text(r.code),
                csv_text(r.name),
                r.currency,
                *r.bucket_values(),
                r.total,
                r.unallocated_cash,
                r.credits,
            ]
            for r in report.rows
        ]
        rows += [
            [
                "TOTAL",
                "",
                currency,
                *[t[k] for k, _ in selectors.BUCKETS],
                t["total"],
                t["unallocated_cash"],
                t["credits"],
            ]
            for currency, t in sorted(report.totals.items())
        ]
        return csv_response(f"aged-receivables-{report.as_of.isoformat()}.csv", AGED_CSV, rows)
    # 25 customers a page (the totals stay over all of them): at 100,000 customers the whole report was 40,000
    # rows and 15 MB of HTML (bench/README.md, "Pages under load").
    context = {"form": form, "report": report, "page": paginate(request, report.rows), "buckets": selectors.BUCKETS,
               "qs": querystring_without_page(request), "is_today": report.as_of == timezone.localdate()}
    return render(request, "finance/aged_receivables.html", context)


@require_POST
@staff_view("finance.view_payment", "invoices.view_invoice")
def aged_receivables_refresh(request):
    """Today's report recomputed now (it changes no data: a viewer may ask too), then shown with the same
    search and currency."""
    aged_receivables_refresh_service()
    values = AgedReceivablesForm(request.POST).values()
    query = urlencode({k: v for k, v in (("q", values["customer_q"]), ("currency", values["currency"]),
                                         ("bucket", values["bucket"])) if v})
    return redirect_page(request, reverse("finance:aged-receivables") + (f"?{query}" if query else ""))
