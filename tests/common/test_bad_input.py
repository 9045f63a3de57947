"""Bad input is a 4xx with a reason, never a 500: NUL bytes anywhere in a request, ids in unicode digits or
past bigint, usernames past the user model's length. (test_hostile_input.py walks every URL; these pin the
mechanisms and their messages.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from common.ids import BIGINT_MAX, parse_id, parse_page

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value, expected", [
    ("1", 1), ("42", 42), (str(BIGINT_MAX), BIGINT_MAX), (7, 7),
    ("²", None), ("١٢", None), ("１２", None), ("-1", None), ("0", None), ("+1", None), (" 1", None), ("1.0", None),
    ("99999999999999999999", None), (str(BIGINT_MAX + 1), None), ("", None), (None, None), ("1e5", None),
])
def test_parse_id_takes_ascii_digits_within_bigint_only(value, expected):
    assert parse_id(value) == expected


def test_page_numbers_stop_where_an_offset_would_overflow():
    assert parse_page("3") == 3 and parse_page(str(BIGINT_MAX)) is None


@pytest.mark.parametrize("where", ["query key", "query value", "form key", "form value", "path"])
def test_a_nul_byte_anywhere_is_a_400_page_saying_so(finance_client, where):
    url = reverse("customers:list")
    if where == "query key":
        response = finance_client.get(url, {"q\x00": "x"})
    elif where == "query value":
        response = finance_client.get(url, {"q": "acme\x00"})
    elif where == "form key":
        response = finance_client.post(reverse("customers:create"), {"name\x00": "x"})
    elif where == "form value":
        response = finance_client.post(reverse("customers:create"), {"name": "x\x00"})
    else:
        response = finance_client.get("/customers/%00/")
    assert response.status_code == 400
    assert "contains a NUL character" in response.content.decode()


def test_a_nul_byte_in_a_portal_search_is_a_400(client):
    from tests.customers.factories import portal_user
    from tests.finance.factories import customer

    user = portal_user(customer(code="ACME"), "acme").user
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("portal:invoice-list"), {"q": "\x00"})
    assert response.status_code == 400 and "NUL character" in response.content.decode()


@pytest.mark.parametrize("value", ["²", "١٢", "99999999999999999999"])
def test_unicode_digits_and_huge_ids_in_queries_are_no_id(finance_client, value):
    from tests.finance.factories import customer

    customer(code="ACME")
    assert finance_client.get(reverse("finance:payment-list"), {"q": value}).status_code == 200
    assert finance_client.get(reverse("finance:payment-list"), {"page": value}).status_code == 200
    assert finance_client.get(reverse("audit:list"), {"q": value, "customer": value}).status_code == 200
    assert finance_client.get(reverse("finance:credit-note-create"), {"invoice": value}).status_code == 200
    assert finance_client.get(reverse("finance:aged-receivables"), {"page": value}).status_code == 200


@pytest.mark.parametrize("value", ["²", "١٢", "99999999999999999999"])
def test_the_portal_card_cancelled_page_takes_ascii_ids_only(client, value):
    from tests.customers.factories import portal_user
    from tests.finance.factories import customer

    client.force_login(portal_user(customer(code="ACME"), "acme").user,
                       backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/portal/card/cancelled/", {"payment": value}).status_code == 404


@pytest.mark.parametrize("url", ["login", "portal:login"])
def test_a_10_kb_username_is_a_message_not_a_500(client, url):
    response = client.post(reverse(url), {"username": "x" * 10_000, "password": "x"})
    assert response.status_code == 200
    assert "Ensure this value has at most 150 characters" in response.content.decode()


@pytest.mark.parametrize("url", ["login", "portal:login"])
def test_a_nul_byte_in_a_header_is_a_400_before_axes_or_the_audit_store_it(client, url):
    response = client.post(reverse(url), {"username": "a", "password": "b"}, HTTP_USER_AGENT="a\x00b")
    assert response.status_code == 400 and "NUL character" in response.content.decode()
    from axes.models import AccessAttempt

    from audit.models import AuditEvent

    assert not AccessAttempt.objects.exists() and not AuditEvent.objects.exists()


def test_a_cookie_holding_a_nul_byte_is_dropped(client):
    response = client.get(reverse("portal:home"), HTTP_COOKIE="sessionid=abcdefgh\x00ijkl; csrftoken=\x00x")
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
