"""A customer never sees another customer's anything: every portal URL with an id, tried by another
customer, is a 404 and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import get_resolver, reverse

from finance.models import CardPayment, CardPaymentStatus
from tests.customers.factories import top_up
from tests.finance.factories import purchase_invoice
from tests.stripe.helpers import start

pytestmark = pytest.mark.django_db

# (url name, method, how the id is given) for every portal URL that takes an id.
MATRIX = [
    ("portal:invoice-pdf", "get", "path"),
    ("portal:invoice-pay", "get", "path"),
    ("portal:invoice-pay", "post", "path"),
    ("portal:invoice-pay-card", "post", "path"),
    ("portal:card-success", "get", "session"),
    ("portal:card-cancelled", "get", "payment"),
    ("portal:payment-receipt", "get", "receipt"),
]


@pytest.fixture
def acme_things(acme, fake_stripe, acme_receipt):
    """Made after the paid one: a customer has one open Checkout top-up at a time (issue 19 #3)."""
    top_up(acme, "500")
    invoice = purchase_invoice(acme, "60")
    payment = start(acme, "25", invoice_id=None)
    return invoice, payment


@pytest.fixture
def acme_receipt(acme, fake_stripe):
    """A paid card payment of Acme's (the only kind with a receipt)."""
    from finance.services.cards import card_payment_fulfil
    from tests.stripe.helpers import CUSTOMER, pay

    paid = start(acme, "30", invoice_id=None)
    pay(fake_stripe, paid)
    return card_payment_fulfil(checkout_session_id=paid.checkout_session_id, actor=CUSTOMER)


def url_for(name, how, invoice, payment, paid=None):
    if how == "receipt":
        return reverse(name, args=[paid.pk])
    if how == "path":
        return reverse(name, args=[invoice.pk])
    if how == "payment":
        return f"{reverse(name)}?payment={payment.pk}"
    return f"{reverse(name)}?session_id={payment.checkout_session_id}"


@pytest.mark.parametrize(("name", "method", "how"), MATRIX)
def test_another_customer_gets_404_and_nothing_changes(globex_client, portal_client, acme_things, acme_receipt,
                                                       fake_stripe, name, method, how):
    invoice, payment = acme_things
    requests_before = len(fake_stripe.requests)
    url = url_for(name, how, invoice, payment, acme_receipt)
    response = getattr(globex_client, method)(url, {"amount": "100"} if method == "post" else None)
    assert response.status_code == 404
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert invoice.amount_paid == 0 and payment.status == CardPaymentStatus.PENDING
    assert CardPayment.objects.count() == 2 and len(fake_stripe.requests) == requests_before
    # ...while the owner reaches it.
    assert getattr(portal_client, method)(url, {"amount": "100"} if method == "post" else None).status_code != 404


def test_unknown_ids_are_404_too(portal_client, acme_things):
    assert portal_client.get(reverse("portal:invoice-pdf", args=[999999])).status_code == 404
    assert portal_client.get(f"{reverse('portal:card-success')}?session_id=cs_test_nope").status_code == 404
    assert portal_client.get(reverse("portal:card-success")).status_code == 404
    assert portal_client.get(f"{reverse('portal:card-cancelled')}?payment=999999").status_code == 404
    assert portal_client.get(f"{reverse('portal:card-cancelled')}?payment=x").status_code == 404
    assert portal_client.get(reverse("portal:payment-receipt", args=[999999])).status_code == 404


def test_a_card_payment_not_paid_has_no_receipt(portal_client, acme_things):
    _, pending = acme_things
    assert portal_client.get(reverse("portal:payment-receipt", args=[pending.pk])).status_code == 404


def test_the_matrix_covers_every_portal_url_that_takes_an_id():
    portal = get_resolver().namespace_dict["portal"][1]
    with_path_ids = {f"portal:{p.name}" for p in portal.url_patterns if "<" in str(p.pattern)
                     and "reset" not in p.name}
    with_query_ids = {"portal:card-success", "portal:card-cancelled"}
    assert {name for name, _, _ in MATRIX} == with_path_ids | with_query_ids
