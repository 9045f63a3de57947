"""Signed-in responses are never cached (pages, PDFs, CSVs, staff and portal alike), sessions expire after
their idle time (staff and portal each their own, sliding with activity), and sign-in is throttled per IP
across usernames as well as per username and IP, on both sign-in pages."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD, UserFactory
from tests.finance.factories import customer, purchase_invoice

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.fixture
def acme(db):
    return customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")


@pytest.fixture
def portal_client(acme):
    from tests.customers.factories import portal_user

    client = Client()
    client.force_login(portal_user(acme, "acme-portal").user, backend=MODEL_BACKEND)
    return client


class TestNoStore:
    def test_staff_page_pdf_and_csv(self, finance_client, acme):
        invoice = purchase_invoice(acme, "30")
        page = finance_client.get(reverse("customers:list"))
        pdf = finance_client.get(reverse("invoices:pdf", args=[invoice.pk]))
        csv = finance_client.get(reverse("customers:list"), {"format": "csv"})
        assert (page.status_code, pdf.status_code, csv.status_code) == (200, 200, 200)
        assert pdf["Content-Type"] == "application/pdf" and csv["Content-Type"].startswith("text/csv")
        assert no_store(page) and no_store(pdf) and no_store(csv)

    def test_staff_htmx_fragment(self, finance_client, acme):
        response = finance_client.get(reverse("customers:list"), HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and no_store(response)

    def test_portal_page_pdf_and_csv(self, portal_client, acme):
        invoice = purchase_invoice(acme, "30")
        page = portal_client.get(reverse("portal:home"))
        pdf = portal_client.get(reverse("portal:invoice-pdf", args=[invoice.pk]))
        csv = portal_client.get(reverse("portal:transactions"), {"format": "csv"})
        assert (page.status_code, pdf.status_code, csv.status_code) == (200, 200, 200)
        assert pdf["Content-Type"] == "application/pdf" and csv["Content-Type"].startswith("text/csv")
        assert no_store(page) and no_store(pdf) and no_store(csv)

    def test_the_sign_in_and_sign_out_responses(self, client, finance_user):
        assert no_store(client.post(reverse("login"), {"username": "finance", "password": PASSWORD}))
        assert no_store(client.post(reverse("logout")))

    def test_anonymous_pages_may_be_cached(self, client):
        assert not no_store(client.get(reverse("login")))


class TestIdleSessions:
    def _expiry(self, client) -> dt.datetime:
        from django.contrib.sessions.models import Session

        return Session.objects.get(session_key=client.session.session_key).expire_date

    def _sign_in(self, client, url: str, username: str) -> None:
        response = client.post(url, {"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.content.decode()[:500]

    @pytest.mark.parametrize("who", ["staff", "portal"])
    def test_the_session_ends_after_the_idle_time_and_slides_with_activity(self, client, settings, acme, who):
        settings.LEDGERDESK_STAFF_SESSION_IDLE_SECONDS = 2 * 3600
        settings.LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS = 5 * 3600
        if who == "staff":
            from tests.factories import finance_user

            finance_user(username="finance")
            login, page, idle = reverse("login"), reverse("customers:list"), 2 * 3600
            self._sign_in(client, login, "finance")
        else:
            from tests.customers.factories import portal_user

            portal_user(acme, "acme-portal")
            login, page, idle = reverse("portal:login"), reverse("portal:home"), 5 * 3600
            self._sign_in(client, login, "acme-portal")
        start = timezone.now()
        with time_machine.travel(start, tick=False) as traveller:
            assert client.get(page).status_code == 200
            assert abs((self._expiry(client) - start).total_seconds() - idle) < 5
            assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == idle
            # Active: a request just before the idle time runs out keeps the session for another idle time.
            traveller.shift(idle - 600)
            assert client.get(page).status_code == 200
            traveller.shift(idle - 600)
            assert client.get(page).status_code == 200
            # Idle for longer than the idle time: signed out.
            traveller.shift(idle + 60)
            response = client.get(page)
            assert response.status_code == 302 and response["Location"].startswith(login)

    def test_staff_and_portal_idle_times_come_from_the_environment_settings(self, settings):
        from common.middleware import idle_seconds

        settings.LEDGERDESK_STAFF_SESSION_IDLE_SECONDS = 111
        settings.LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS = 222
        assert idle_seconds(UserFactory.build(is_staff=True)) == 111
        assert idle_seconds(UserFactory.build(is_staff=False)) == 222

    def test_defaults_are_eight_hours_for_staff_and_twelve_for_customers(self):
        from config import settings as project

        assert project.LEDGERDESK_STAFF_SESSION_IDLE_SECONDS == 8 * 3600
        assert project.LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS == 12 * 3600


class TestIpThrottle:
    """One address trying many usernames is locked out at AXES_IP_FAILURE_LIMIT, even though no single
    username reaches AXES_FAILURE_LIMIT; a real user's correct password from there is then refused too."""

    @pytest.fixture(autouse=True)
    def _limits(self, settings):
        settings.AXES_FAILURE_LIMIT = 5
        settings.AXES_IP_FAILURE_LIMIT = 8

    def _spray(self, url: str, ip: str, count: int) -> list[int]:
        client = Client(REMOTE_ADDR=ip)
        return [client.post(url, {"username": f"guess{i}", "password": "wrong"}).status_code for i in range(count)]

    @pytest.mark.parametrize("where", ["staff", "portal"])
    def test_one_ip_trying_many_usernames_is_locked_out(self, finance_user, acme, where):
        from tests.customers.factories import portal_user

        portal_user(acme, "acme-portal")
        url = reverse("login") if where == "staff" else reverse("portal:login")
        username = "finance" if where == "staff" else "acme-portal"
        assert self._spray(url, "203.0.113.7", 7) == [200] * 7  # one failure per username: under every limit
        good = Client(REMOTE_ADDR="203.0.113.7").post(url, {"username": username, "password": PASSWORD})
        assert good.status_code == 302  # the 8th request, a right password: still under the IP limit
        assert self._spray(url, "203.0.113.7", 8)[-1] == 429
        locked = Client(REMOTE_ADDR="203.0.113.7").post(url, {"username": username, "password": PASSWORD})
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
        # Another address is not affected.
        other = Client(REMOTE_ADDR="198.51.100.9").post(url, {"username": username, "password": PASSWORD})
        assert other.status_code == 302

    def test_a_successful_sign_in_does_not_reset_the_ips_failures_with_other_usernames(self, finance_user):
        url = reverse("login")
        self._spray(url, "203.0.113.8", 7)
        assert Client(REMOTE_ADDR="203.0.113.8").post(url, {"username": "finance", "password": PASSWORD}).status_code == 302
        assert self._spray(url, "203.0.113.8", 1) == [429]

    def test_the_per_username_limit_is_still_the_lower_one(self, finance_user):
        client = Client(REMOTE_ADDR="203.0.113.9")
        for _ in range(5):
            client.post(reverse("login"), {"username": "finance", "password": "wrong"})
        assert client.post(reverse("login"), {"username": "finance", "password": PASSWORD}).status_code == 429
        assert Client(REMOTE_ADDR="203.0.113.9").post(
            reverse("login"), {"username": "someone-else", "password": "x"}).status_code == 200
