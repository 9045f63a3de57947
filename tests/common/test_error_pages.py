"""The project's own 404 and 500 pages, also in development (DEBUG on, as bin/run sets it): never Django's
technical pages, which list every URL pattern (404) or show a traceback and the settings (500) (issue 23)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
TECHNICAL = ("Using the URLconf", "URLconf defined in", "urlpatterns", "Traceback", "DEBUG = True",
             "Django tried these URL patterns")


def assert_ours(response, status: int, text: str, *, csp: bool = False):
    html = response.content.decode()
    assert response.status_code == status and text in html, html[:500]
    assert not [t for t in TECHNICAL if t in html]
    if csp:  # django-csp leaves 404 and 500 replies without the header when DEBUG is on
        assert response["Content-Security-Policy"]


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


def test_an_unknown_address_in_development(debug, client):
    assert_ours(client.get("/no-such-page/"), 404, "Page not found")


def test_a_view_s_404_in_development(debug, finance_client):
    assert_ours(finance_client.get(reverse("finance:payment-detail", args=[999999])), 404, "Page not found")


def test_a_failing_view_in_development_shows_our_500_and_logs_the_traceback(debug, caplog):
    debug.ROOT_URLCONF = "tests.common.urls_crash"
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = Client(raise_request_exception=False).get("/crash-for-tests/")
    assert_ours(response, 500, "Something went wrong on our side")
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


def test_the_api_keeps_its_problems_in_development(debug, client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/problem+json")


def test_a_missing_slash_still_redirects_in_development(debug, finance_client):
    response = finance_client.get("/payments")
    assert response.status_code == 301 and response["Location"] == "/payments/"


def test_production_uses_the_same_404_page(client):
    assert_ours(client.get("/no-such-page/"), 404, "Page not found", csp=True)


def test_production_uses_the_same_500_page(settings):
    settings.ROOT_URLCONF = "tests.common.urls_crash"
    response = Client(raise_request_exception=False).get("/crash-for-tests/")
    assert response.status_code == 500 and "Something went wrong on our side" in response.content.decode()
