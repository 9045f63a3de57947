"""The staff Audit page: who may see it, every filter, search, pagination, CSV, the HTMX partial, the
readable diff, and a constant number of queries whatever the number of events and customers."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.actors import Actor
from audit.models import AuditEvent
from tests.audit.helpers import CustomerRecord, record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("audit:list")
T0 = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)  # 11:00 in Singapore
JOB = Actor.system("auto-top-up")
ALICE = Actor(kind="staff", label="alice", user_id=5, ip="10.1.1.1")
PORTAL = Actor(kind="customer", label="acme-portal", user_id=70)


@pytest.fixture
def trail(db):
    """A small trail: customer records (for names), and events across apps, actors, customers and days."""
    record(actor=ALICE, app="customers", action="customers.customer.create", object_type="customers.customer",
           object_id=12, customer_id=12, before={}, after={"name": "Acme Pte", "code": "ACME"}, at=T0)
    record(actor=ALICE, app="customers", action="customers.customer.update", object_type="customers.customer",
           object_id=13, customer_id=13, before={"credit_limit": "0"}, after={"credit_limit": "500.000000"},
           at=T0 + dt.timedelta(minutes=1))
    record(actor=ALICE, app="finance", action="finance.payment.allocate", object_type="finance.payment",
           object_id=1, customer_id=12, before={"status": "unallocated"}, after={"status": "allocated"},
           reason="customer asked", at=T0 + dt.timedelta(days=1))
    record(actor=JOB, app="invoices", action="invoices.invoice.send", object_type="invoices.invoice",
           object_id=7, customer_id=13, before={"status": "draft"}, after={"status": "sent"},
           at=T0 + dt.timedelta(days=2))
    record(actor=PORTAL, app="portal", action="portal.invoice.pay", object_type="invoices.invoice",
           object_id=8, customer_id=12, after={"paid": "12.50"}, at=T0 + dt.timedelta(days=3, hours=14))
    return AuditEvent.objects.order_by("id")


def _ids(response):
    return [e.pk for e in response.context["page"].object_list]


def _actions(response):
    return {e.action for e in response.context["page"].object_list}


class TestAccess:
    def test_anonymous_is_sent_to_sign_in(self, client):
        response = client.get(URL)
        assert response.status_code == 302 and reverse("login") in response["Location"]

    def test_a_viewer_sees_the_page_and_the_nav_link(self, viewer_client, trail):
        response = viewer_client.get(URL)
        assert response.status_code == 200
        html = response.content.decode()
        assert f'href="{URL}"' in html and ">Audit</a>" in html

    def test_a_portal_customer_gets_403(self, client, trail):
        client.force_login(UserFactory(username="portal1"), backend="django.contrib.auth.backends.ModelBackend")
        assert client.get(URL).status_code == 403
        assert client.get(URL + "?format=csv").status_code == 403

    def test_staff_without_the_permission_gets_403(self, client, trail):
        client.force_login(UserFactory(username="bare", is_staff=True),
                           backend="django.contrib.auth.backends.ModelBackend")
        assert client.get(URL).status_code == 403

    def test_the_page_takes_get_only(self, finance_client):
        assert finance_client.post(URL).status_code == 405


class TestFilters:
    def test_newest_first(self, finance_client, trail):
        ids = _ids(finance_client.get(URL))
        assert ids == sorted(ids, reverse=True)

    def test_by_app(self, finance_client, trail):
        assert _actions(finance_client.get(URL, {"app": "invoices"})) == {"invoices.invoice.send"}

    def test_by_customer_id(self, finance_client, trail):
        response = finance_client.get(URL, {"customer": "13"})
        assert _actions(response) == {"customers.customer.update", "invoices.invoice.send"}

    def test_by_customer_name_or_code_from_the_customer_record_events(self, finance_client, trail):
        record(actor=ALICE, app="customers", action="customers.customer.update", obj=CustomerRecord(12, "Acme Pte (ACME)"),
               customer_id=12, after={"name": "Acme Pte"})
        for text in ("acme", "ACME", "Pte"):
            events = finance_client.get(URL, {"customer": text}).context["page"].object_list
            assert {e.customer_id for e in events} == {12}, text

    def test_by_actor_and_actor_kind(self, finance_client, trail):
        assert _actions(finance_client.get(URL, {"actor": "auto-top-up"})) == {"invoices.invoice.send"}
        assert _actions(finance_client.get(URL, {"actor_kind": "customer"})) == {"portal.invoice.pay"}

    def test_by_action_exact_or_dotted_prefix(self, finance_client, trail):
        assert _actions(finance_client.get(URL, {"action": "customers.customer"})) == {
            "customers.customer.create", "customers.customer.update"}
        assert _actions(finance_client.get(URL, {"action": "customers.customer.update"})) == {
            "customers.customer.update"}
        assert _actions(finance_client.get(URL, {"action": "customers.cust"})) == set()

    def test_by_date_range_in_the_operator_time_zone_inclusive(self, finance_client, trail):
        # The portal payment is at 2026-03-04 17:00 UTC = 2026-03-05 01:00 in Singapore.
        response = finance_client.get(URL, {"date_from": "2026-03-03", "date_to": "2026-03-04"})
        assert _actions(response) == {"invoices.invoice.send"}
        response = finance_client.get(URL, {"date_from": "2026-03-05", "date_to": "2026-03-05"})
        assert _actions(response) == {"portal.invoice.pay"}

    def test_a_bad_date_shows_its_error_and_lists_the_rest(self, finance_client, trail):
        response = finance_client.get(URL, {"date_from": "2026-13-45", "app": "finance"})
        assert response.status_code == 200
        assert "Enter a valid date" in response.content.decode()
        assert _actions(response) == {"finance.payment.allocate"}

    def test_an_end_before_the_start_is_explained(self, finance_client, trail):
        response = finance_client.get(URL, {"date_from": "2026-03-05", "date_to": "2026-03-01"})
        assert "The end date is before the start date." in response.content.decode()

    def test_search_matches_reason_object_and_event_id(self, finance_client, trail):
        assert _actions(finance_client.get(URL, {"q": "customer asked"})) == {"finance.payment.allocate"}
        first = trail.first()
        assert first.pk in _ids(finance_client.get(URL, {"q": str(first.pk)}))

    def test_filters_combine(self, finance_client, trail):
        response = finance_client.get(URL, {"customer": "12", "app": "portal", "actor_kind": "customer"})
        assert _actions(response) == {"portal.invoice.pay"}


class TestRendering:
    def test_the_diff_is_readable_with_del_and_ins(self, finance_client, trail):
        html = finance_client.get(URL, {"app": "invoices"}).content.decode()
        assert '<del class="del">draft</del>' in html and '<ins class="ins">sent</ins>' in html
        assert 'class="diff' in html

    def test_time_in_the_operator_zone_with_utc_in_the_title(self, finance_client, trail):
        html = finance_client.get(URL, {"app": "invoices"}).content.decode()
        assert "2026-03-03 11:00:00" in html  # Singapore
        assert 'title="2026-03-03 03:00:00.000000 UTC"' in html

    def test_the_customer_shows_by_name_when_its_record_was_audited(self, finance_client, trail):
        record(actor=ALICE, app="customers", action="customers.customer.update", obj=CustomerRecord(12, "Acme Pte (ACME)"),
               customer_id=12, after={"name": "Acme Pte"})
        html = finance_client.get(URL, {"customer": "12"}).content.decode()
        assert "Acme Pte (ACME)" in html
        html = finance_client.get(URL, {"customer": "13"}).content.decode()
        assert "Customer #13" in html

    def test_htmx_gets_only_the_table_partial(self, finance_client, trail):
        response = finance_client.get(URL, {"app": "finance"}, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert 'id="audit-events"' in html and "<html" not in html and 'id="audit-filters"' not in html

    def test_the_full_page_has_the_filters_form_wired_for_htmx(self, finance_client, trail):
        html = finance_client.get(URL).content.decode()
        assert 'hx-get="/audit/"' in html and 'hx-push-url="true"' in html and 'hx-target="#audit-events"' in html


class TestPagination:
    def test_pages_of_25_keeping_the_filters(self, finance_client, db):
        for i in range(60):
            record(actor=ALICE, app="finance", action="finance.payment.record", object_id=i,
                   at=T0 + dt.timedelta(seconds=i))
        record(actor=ALICE, app="invoices", action="invoices.invoice.send", object_id=99)
        first = finance_client.get(URL, {"app": "finance"})
        assert len(first.context["page"].object_list) == 25
        assert "1–25 of 60" in first.content.decode()
        assert "?app=finance&page=2" in first.content.decode()
        last = finance_client.get(URL, {"app": "finance", "page": 3})
        assert len(last.context["page"].object_list) == 10
        assert finance_client.get(URL, {"page": "nonsense"}).status_code == 200


class TestCsv:
    def _rows(self, response):
        assert response.streaming and response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    def test_exports_the_filtered_events_with_every_column(self, finance_client, trail):
        rows = self._rows(finance_client.get(URL, {"format": "csv", "customer": "12"}))
        header, body = rows[0], rows[1:]
        assert header[:7] == ["id", "occurred_at_utc", "actor_kind", "actor", "actor_user_id", "app", "action"]
        assert {r[header.index("customer_id")] for r in body} == {"12"}
        assert len(body) == 3
        allocate = next(r for r in body if r[6] == "finance.payment.allocate")
        assert allocate[header.index("before")] == '{"status": "unallocated"}'
        assert allocate[header.index("occurred_at_utc")] == "2026-03-02T03:00:00+00:00"
        assert allocate[header.index("hash")] == AuditEvent.objects.get(pk=allocate[0]).hash

    def test_text_that_a_spreadsheet_would_run_as_a_formula_is_escaped(self, finance_client, db):
        record(actor=Actor(kind="anonymous", label="=HYPERLINK(\"http://x\")"), app="access",
               action="access.sign_in_failed", reason="+1 attempt")
        rows = self._rows(finance_client.get(URL, {"format": "csv"}))
        assert rows[1][3].startswith("'=") and rows[1][rows[0].index("reason")] == "'+1 attempt"


class TestQueryCount:
    def _count(self, client, params=None):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL, params or {})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    def test_the_same_number_of_queries_for_5_or_300_events_and_many_customers(self, finance_client, db):
        for i in range(5):
            record(customer_id=i, object_id=i)
        small = self._count(finance_client)
        for i in range(300):
            record(customer_id=i % 60, object_id=i, actor=Actor(kind="staff", label=f"user{i % 9}"))
            if i < 60:
                record(app="customers", action="customers.customer.update", obj=CustomerRecord(i, f"Customer {i} (C{i})"),
                       customer_id=i)
        assert self._count(finance_client) == small
        assert self._count(finance_client, {"customer": "Customer 1 (C1)"}) == small
        assert self._count(finance_client, {"page": 4, "app": "finance"}) == small
