"""Finance > Auto top-up runs: the decision log of each run and customer, with the day's totals."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from finance.models import AutoTopUpRun, TopUpDecision, TopUpMethod
from finance.services.auto_top_up import run_daily_auto_top_up
from tests.finance.auto_top_up_support import AT, RUN_DATE, SYSTEM, customer_with, wallet

pytestmark = pytest.mark.django_db
RUNS = reverse("finance:auto-top-up-runs")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False):
        yield


def run(day: dt.date = RUN_DATE) -> AutoTopUpRun:
    return run_daily_auto_top_up(run_date=day, actor=SYSTEM, email_via_celery=False)


@pytest.fixture
def a_day():
    """A day with every outcome: two fired (master account, cheque/TT), one failed (no wallet in USD), one
    above threshold; then a second run that finds them all already done."""
    wallet("1000")
    fired = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Acme Telecom", code="ACME", credits="10",
                          trigger="100")
    invoiced = customer_with(TopUpMethod.CHEQUE_TT, name="Bolt Networks", code="BOLT", credits="10", trigger="250")
    failed = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Corex", code="COREX", credits="0", currency="USD")
    rich = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Delta Voice", code="DELTA", credits="900")
    first, second = run(), run()
    return {"fired": fired, "invoiced": invoiced, "failed": failed, "rich": rich, "first": first, "second": second}


class TestAutoTopUpRunsPage:
    def test_shows_the_days_totals_runs_and_decisions(self, finance_client, a_day):
        response = finance_client.get(RUNS)  # the latest day with a run by default
        assert response.status_code == 200
        ctx = response.context
        assert ctx["day"] == RUN_DATE
        totals = ctx["totals"]
        assert (totals.fired, totals.failed, totals.in_progress) == (2, 1, 0)
        assert {(t.method, t.currency, t.fired, t.amount) for t in totals.by_method} == {
            ("master_account", "SGD", 1, Decimal("100")), ("cheque_tt", "SGD", 1, Decimal("250"))}
        assert totals.decisions == {TopUpDecision.SKIPPED_ALREADY_TODAY: 3, TopUpDecision.SKIPPED_ABOVE_THRESHOLD: 1}
        assert [r.pk for r in ctx["runs"]] == [a_day["first"].pk, a_day["second"].pk]
        html = response.content.decode()
        for text in ("Issue from master account", "Cheque or telegraphic transfer", "250.00 SGD",
                     "There is no master wallet in USD.", "Skipped: above threshold", "Skipped: already today",
                     "Topped up earlier today"):
            assert text in html, text
        assert ctx["page"].paginator.count == 8  # 4 customers x 2 runs

    def test_filters_by_run_decision_and_organization(self, finance_client, a_day):
        def decisions(**params):
            page = finance_client.get(RUNS, {"date": "2026-03-16", **params}).context["page"]
            return sorted((d.customer.code, d.decision) for d in page)

        assert decisions(run=a_day["first"].pk) == [("ACME", "fired"), ("BOLT", "fired"), ("COREX", "failed"),
                                                    ("DELTA", "skipped_above_threshold")]
        assert decisions(decision="failed") == [("COREX", "failed")]
        assert decisions(decision="skipped", run=a_day["second"].pk) == [
            ("ACME", "skipped_already_today"), ("BOLT", "skipped_already_today"),
            ("COREX", "skipped_already_today"), ("DELTA", "skipped_above_threshold")]
        assert decisions(q="bolt") == [("BOLT", "fired"), ("BOLT", "skipped_already_today")]

    def test_another_day_has_its_own_log(self, finance_client, a_day):
        response = finance_client.get(RUNS, {"date": "2026-03-17"})
        assert response.context["runs"] == [] and response.context["page"].paginator.count == 0
        assert b"No runs on 2026-03-17." in response.content
        assert response.context["previous_day"] == RUN_DATE

    def test_the_csv_export_has_the_filtered_decisions(self, finance_client, a_day):
        response = finance_client.get(RUNS, {"date": "2026-03-16", "run": a_day["first"].pk, "format": "csv"})
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0] == ["run_date", "run", "customer_code", "customer", "decision", "method", "usable_credits",
                           "limit_threshold", "trigger_amount", "reason", "invoice", "decided_at"]
        by_code = {r[2]: r for r in rows[1:]}
        assert set(by_code) == {"ACME", "BOLT", "COREX", "DELTA"}
        assert by_code["BOLT"][4] == "fired" and by_code["BOLT"][10].startswith("INV-")
        assert by_code["DELTA"][4:9] == ["skipped_above_threshold", "master_account", "900.000000", "50.000000",
                                         "100.000000"]

    def test_the_number_of_queries_does_not_grow_with_the_decisions(self, finance_client,
                                                                     django_assert_max_num_queries):
        wallet("100000")
        for _ in range(30):
            customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        customer_with(TopUpMethod.CHEQUE_TT, credits="0")
        run()
        run()
        finance_client.get(RUNS)
        with django_assert_max_num_queries(12):
            response = finance_client.get(RUNS, {"date": "2026-03-16"})
        assert len(response.context["page"]) == 25

    def test_a_viewer_may_look(self, viewer_client, a_day):
        assert viewer_client.get(RUNS).status_code == 200

    def test_an_htmx_filter_returns_just_the_table(self, finance_client, a_day):
        response = finance_client.get(RUNS, {"date": "2026-03-16", "decision": "fired"}, HTTP_HX_REQUEST="true",
                                      HTTP_HX_TARGET="decision-table")
        html = response.content.decode().lstrip()
        assert html.startswith('<section class="panel" id="decision-table"') and "Acme Telecom" in html


class TestOneTimeZone:
    """Issue 23, defect 9: the page mixed the operator's time (the runs table) and UTC (the run picker, the CSV)."""

    def test_the_run_picker_the_tables_and_the_csv_show_the_operators_time(self, finance_client, a_day):
        first = a_day["first"]
        local = first.started_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
        shown = f"{local:%Y-%m-%d %H:%M:%S} +08:00"
        utc_clock = f"{first.started_at.astimezone(dt.UTC):%H:%M:%S}"
        html = finance_client.get(RUNS).content.decode()
        assert f'<option value="{first.pk}">#{first.pk} ' in html
        option = html[html.index(f'<option value="{first.pk}">'):]
        option = option[:option.index("</option>")]
        assert option.endswith(shown) and utc_clock not in option
        assert f"<td>{shown}</td>" in html  # the runs table's Started
        rows = list(csv.reader(io.StringIO(b"".join(finance_client.get(RUNS, {"format": "csv"}).streaming_content)
                                           .decode())))
        decided = rows[0].index("decided_at")
        assert all(r[decided].endswith("+08:00") for r in rows[1:]) and len(rows) > 1
