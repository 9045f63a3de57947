"""One time zone, labelled, and one date format on every page (issue 23, defect 9): times show in the operator's
time zone with its offset (|local_time: 2026-12-07 14:05:09 +08:00), dates as ISO 8601 (|local_date), and every
staff page names the time zone. No page template formats a date or time its own way."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse

from common import times

ROOT = Path(settings.BASE_DIR)
# Documents keep their own formats (a PDF's "7 Dec 2026", an email's text); a month is a period, not a date.
DOCUMENTS = ("_pdf.html", "/pdf/", "/email/")
ALLOWED = {'"F Y"', "'c'", "'Y-m-d H:i:s.u'"}  # the invoice period; the audit row's machine-readable UTC moment


def _page_templates() -> list[Path]:
    found = [p for p in ROOT.glob("**/templates/**/*.html") if ".venv" not in p.parts and "node_modules" not in p.parts]
    return [p for p in found if not any(d in str(p) for d in DOCUMENTS)]


def test_no_page_template_formats_a_date_or_time_its_own_way():
    offenders = []
    for path in _page_templates():
        for fmt in re.findall(r"""\|date:(["'][^"']*["'])""", path.read_text()):
            if fmt not in ALLOWED:
                offenders.append(f"{path.relative_to(ROOT)}: |date:{fmt}")
    assert offenders == []


def test_the_filters_give_the_operators_time_with_its_offset_and_iso_dates():
    at = dt.datetime(2026, 12, 7, 6, 5, 9, tzinfo=dt.UTC)
    out = Template("{{ at|local_time }} / {{ at|local_date }} / {{ day|local_date }} / {% time_zone_shown %}").render(
        Context({"at": at, "day": dt.date(2026, 3, 1)}))
    assert out == "2026-12-07 14:05:09 +08:00 / 2026-12-07 / 2026-03-01 / Asia/Singapore (UTC+08:00)"
    late = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)  # the next day in Singapore
    assert times.local_date(late) == "2026-12-08"


@pytest.mark.django_db
def test_every_staff_page_names_its_time_zone(finance_client):
    html = finance_client.get(reverse("finance:payment-list")).content.decode()
    assert '<small class="time-zone" id="time-zone"' in html and "Times: Asia/Singapore (UTC+08:00)" in html


@pytest.mark.django_db
def test_the_audit_trail_shows_the_operators_time(finance_client):
    from tests.finance.factories import customer, payment

    payment(customer(), "10")
    html = finance_client.get(reverse("audit:list")).content.decode()
    assert re.search(r"<time datetime=\"[^\"]+\" title=\"[^\"]+ UTC\">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00</time>",
                     html)
