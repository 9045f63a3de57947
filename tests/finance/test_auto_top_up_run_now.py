"""Finance > Auto top-up runs: what today's run would do (the dry run: the run's own rule, writing nothing)
and Run now (Finance role only, queued on a worker, one audit event, double-submit safe)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditEvent
from finance.auto_top_up.selectors import dry_run
from finance.models import (
    AutoTopUp,
    AutoTopUpDecision,
    AutoTopUpRun,
    AutoTopUpTrigger,
    TopUpDecision,
    TopUpMethod,
)
from finance.services.auto_top_up import auto_top_up_run_now, run_daily_auto_top_up
from tests.finance.auto_top_up_support import AT, RUN_DATE, STAFF, SYSTEM, customer_with, wallet
from tests.threads import run_calls

DRY_RUN = reverse("finance:auto-top-up-dry-run")
RUN_NOW = reverse("finance:auto-top-up-run-now")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False):
        yield


@pytest.fixture
def book(db):
    """Customers for every decision the rule makes: two due (master account, cheque/TT), one due in USD, one
    above its threshold, one turned off, one topped up already today, one with an auto top-up invoice from an
    earlier day still awaiting payment."""
    wallet("10000")
    wallet("10000", currency="USD")
    due = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Acme Telecom", code="ACME", credits="10", trigger="100")
    invoiced = customer_with(TopUpMethod.CHEQUE_TT, name="Bolt Networks", code="BOLT", credits="10", trigger="250")
    usd = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Corex", code="COREX", credits="0", currency="USD",
                        trigger="75.5")
    rich = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Delta Voice", code="DELTA", credits="900")
    off = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Echo", code="ECHO", credits="0", enabled=False)
    done = customer_with(TopUpMethod.MASTER_ACCOUNT, name="Foxtrot", code="FOX", credits="0")
    waiting = customer_with(TopUpMethod.CHEQUE_TT, name="Golf", code="GOLF", credits="0")
    from finance.services.auto_top_up import auto_top_up_customer

    auto_top_up_customer(customer_id=done.pk, run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
    auto_top_up_customer(customer_id=waiting.pk, run_date=RUN_DATE - dt.timedelta(days=1),
                         actor=SYSTEM, email_via_celery=False)
    return {"due": due, "invoiced": invoiced, "usd": usd, "rich": rich, "off": off, "done": done, "waiting": waiting}


def writes():
    return (AutoTopUp.objects.count(), AutoTopUpRun.objects.count(), AutoTopUpDecision.objects.count(),
            AuditEvent.objects.count())


class TestDryRun:
    def test_lists_who_would_be_topped_up_by_which_method_and_how_much_and_writes_nothing(self, finance_client, book):
        before = writes()
        response = finance_client.get(DRY_RUN)
        assert response.status_code == 200 and writes() == before
        rows = [(ps.customer.code, ps.method, ps.amount, ps.currency) for ps in response.context["page"]]
        assert rows == [("ACME", "master_account", Decimal("100"), "SGD"), ("BOLT", "cheque_tt", Decimal("250"), "SGD"),
                        ("COREX", "master_account", Decimal("75.5"), "USD")]
        summary = response.context["summary"]
        assert summary.candidates == 3
        assert summary.skipped == {TopUpDecision.SKIPPED_ABOVE_THRESHOLD: 1, TopUpDecision.SKIPPED_ALREADY_TODAY: 1,
                                   TopUpDecision.SKIPPED_OPEN_INVOICE: 1}
        assert {(t.method, t.currency, t.customers, t.amount) for t in summary.top_ups} == {
            ("master_account", "SGD", 1, Decimal("100")), ("cheque_tt", "SGD", 1, Decimal("250")),
            ("master_account", "USD", 1, Decimal("75.5"))}
        html = response.content.decode()
        for text in ("Acme Telecom", "Issue from master account", "Cheque or telegraphic transfer", "250.00 SGD",
                     "75.50 USD", "A top-up invoice is issued and sent"):
            assert text in html, text
        assert "Echo" not in html and "Delta Voice" not in html

    def test_says_exactly_what_the_run_then_does(self, finance_client, book):
        summary, candidates = dry_run(RUN_DATE)
        predicted = {ps.customer_id: (ps.method, ps.amount) for ps in candidates}
        run = run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
        fired = {t.customer_id: (t.method, t.amount) for t in AutoTopUp.objects.filter(run=run)}
        assert fired == predicted
        logged = dict(AutoTopUpDecision.objects.filter(run=run).exclude(decision=TopUpDecision.FIRED)
                      .values_list("customer_id", "decision"))
        assert logged == {book["rich"].pk: TopUpDecision.SKIPPED_ABOVE_THRESHOLD,
                          book["done"].pk: TopUpDecision.SKIPPED_ALREADY_TODAY,
                          book["waiting"].pk: TopUpDecision.SKIPPED_OPEN_INVOICE}
        after, _ = dry_run(RUN_DATE)  # and now the run has happened, nobody is left
        assert after.candidates == 0 and after.skipped[TopUpDecision.SKIPPED_ALREADY_TODAY] == 4

    def test_filters_and_csv(self, finance_client, book):
        def codes(**params):
            return [ps.customer.code for ps in finance_client.get(DRY_RUN, params).context["page"]]

        assert codes(method="cheque_tt") == ["BOLT"]
        assert codes(currency="USD") == ["COREX"]
        assert codes(q="acme") == ["ACME"]
        response = finance_client.get(DRY_RUN, {"method": "master_account", "format": "csv"})
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][:6] == ["run_date", "customer_code", "customer", "currency", "method", "amount"]
        assert [(r[1], r[4], r[5]) for r in rows[1:]] == [("ACME", "master_account", "100.000000"),
                                                          ("COREX", "master_account", "75.500000")]

    def test_the_htmx_filter_gets_the_table_only(self, finance_client, book):
        response = finance_client.get(DRY_RUN, {"q": "bolt"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dry-run-table")
        html = response.content.decode()
        assert html.lstrip().startswith('<section class="panel" id="dry-run-table"') and "Bolt Networks" in html

    def test_a_constant_number_of_queries_whatever_the_rows(self, finance_client, book,
                                                            django_assert_max_num_queries):
        with django_assert_max_num_queries(20) as few:
            finance_client.get(DRY_RUN)
        for i in range(30):
            customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", code=f"MANY{i}")
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = finance_client.get(DRY_RUN)
        assert response.context["summary"].candidates == 33 and len(response.context["page"]) == 25

    def test_viewers_may_look(self, viewer_client, book):
        response = viewer_client.get(DRY_RUN)
        assert response.status_code == 200 and response.context["summary"].candidates == 3
        assert 'id="run-now"' not in response.content.decode()


class TestRunNow:
    def test_queues_todays_run_on_a_worker_with_one_audit_event(self, finance_client, book,
                                                                  django_capture_on_commit_callbacks):
        last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        with django_capture_on_commit_callbacks(execute=False) as sent:
            response = finance_client.post(RUN_NOW)
        assert response.status_code == 302 and response["Location"] == (
            reverse("finance:auto-top-up-runs") + f"?date={RUN_DATE.isoformat()}")
        run = AutoTopUpRun.objects.get(trigger=AutoTopUpTrigger.STAFF)
        assert (run.run_date, run.actor_label, run.started_at, run.finished_at) == (RUN_DATE, "finance", None, None)
        assert run.requested_at == AT and run.task_id
        assert len(sent) == 1  # the task, after commit
        [event] = AuditEvent.objects.filter(id__gt=last_event)
        assert (event.action, event.object_id, event.actor_label) == ("finance.auto_top_up.run_now", str(run.pk),
                                                                       "finance")
        assert AutoTopUp.objects.filter(run_date=RUN_DATE).count() == 1  # nothing topped up by the request itself
        page = finance_client.get(reverse("finance:auto-top-up-runs"), {"date": RUN_DATE.isoformat()})
        html = page.content.decode()
        assert "Queued" in html and f"Run #{run.pk} of today&#x27;s auto top-up queued" in html

    def test_a_second_post_of_the_same_form_queues_nothing_and_shows_the_first_run(
            self, finance_client, book, django_capture_on_commit_callbacks):
        html = finance_client.get(reverse("finance:auto-top-up-runs")).content.decode()
        form = html[html.index('id="run-now-form"'):]
        token = re.search(r'name="form_token" value="([^"]+)"', form[:form.index("</form>")]).group(1)
        with django_capture_on_commit_callbacks(execute=False) as sent:
            first = finance_client.post(RUN_NOW, {"form_token": token})
        run = AutoTopUpRun.objects.get(trigger=AutoTopUpTrigger.STAFF)
        # The run finished, so the service alone would queue another: the token is what refuses it.
        AutoTopUpRun.objects.filter(pk=run.pk).update(started_at=AT, finished_at=AT)
        with django_capture_on_commit_callbacks(execute=False) as sent_again:
            second = finance_client.post(RUN_NOW, {"form_token": token})
        assert second.status_code == 302 and second["Location"] == first["Location"]
        assert AutoTopUpRun.objects.filter(trigger=AutoTopUpTrigger.STAFF).count() == 1
        assert (len(sent), len(sent_again)) == (1, 0)
        again = finance_client.post(RUN_NOW, {"form_token": "another-token"})  # a new form: a new run
        assert again.status_code == 302 and AutoTopUpRun.objects.filter(trigger=AutoTopUpTrigger.STAFF).count() == 2

    def test_the_worker_starts_the_queued_run_itself(self, finance_client, book):
        result = auto_top_up_run_now(actor=STAFF)
        run = run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, run_id=result.run.pk,
                                    trigger=AutoTopUpTrigger.STAFF)
        assert run.pk == result.run.pk and run.started_at and run.finished_at and run.fired_count == 3
        again = run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, run_id=result.run.pk,
                                      trigger=AutoTopUpTrigger.STAFF)  # the task delivered twice
        assert again.pk != run.pk and again.fired_count == 0  # a new run: nobody is topped up twice

    def test_a_double_submit_gets_the_first_run_back(self, finance_client, book, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=False) as sent:
            finance_client.post(RUN_NOW)
            response = finance_client.post(RUN_NOW, follow=True)
        run = AutoTopUpRun.objects.get()
        assert len(sent) == 1 and AuditEvent.objects.filter(action="finance.auto_top_up.run_now").count() == 1
        assert f"Run #{run.pk} of today" in response.content.decode()
        assert "no second run was queued" in response.content.decode()

    def test_after_the_run_finished_another_can_be_asked_for(self, finance_client, book):
        first = auto_top_up_run_now(actor=STAFF)
        run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, run_id=first.run.pk)
        second = auto_top_up_run_now(actor=STAFF)
        assert second.queued and second.run.pk != first.run.pk

    def test_viewers_get_403_and_no_button(self, viewer_client, book):
        assert viewer_client.post(RUN_NOW).status_code == 403
        assert not AutoTopUpRun.objects.exists()
        html = viewer_client.get(reverse("finance:auto-top-up-runs")).content.decode()
        assert 'id="run-now"' not in html and 'id="dry-run-link"' in html

    def test_get_is_not_allowed(self, finance_client):
        assert finance_client.get(RUN_NOW).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_queue_one_run(book):
    results = run_calls([lambda: auto_top_up_run_now(actor=STAFF), lambda: auto_top_up_run_now(actor=STAFF)])
    assert sorted(r.queued for r in results) == [False, True]
    assert results[0].run.pk == results[1].run.pk
    assert AutoTopUpRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="finance.auto_top_up.run_now").count() == 1
