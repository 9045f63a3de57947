"""Every URL pattern of the project, given hostile input, answers without a 5xx.

The URLconf is walked (nothing is listed by hand, so a new page is covered the day it is added). Each pattern
is requested by whoever may use it (staff pages signed in as finance staff, portal pages as a customer, the
admin as a superuser) and anonymously, with one object of each kind in the database (so its ids are real):
with real ids, to learn which methods it takes and its forms' field names; then NUL in the path and in every
field; then each path parameter, and every field at once, given each other hostile value (10 kB, unicode
digits, negative and huge numbers, amounts past NUMERIC(20,6)), by each method it takes. A 5xx or an exception
fails the test with the list of requests that caused them."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
NUL = "\x00"
HOSTILE = [  # besides NUL
    "x" * 10_000,
    "²",
    "١٢",
    "-1",
    "99999999999999999999",
    str(2**63 - 1),
    "9" * 30 + ".5",  # past NUMERIC(20,6)
    "1e5",
]
PATH_HOSTILE = HOSTILE[:6]  # a path segment is an id or a token: the numbers are what matter there
# Fields every page might read from its query string, besides those its forms name.
QUERY_FIELDS = ["q", "page", "format", "customer", "invoice", "payment", "status", "kind", "type", "method",
                "reverses", "next", "session_id", "date_from", "date_to", "amount", "o", "p"]
SIGN_OUT = {"logout", "portal:logout", "admin:logout"}
FIELD_NAME = re.compile(r'\bname="([^"]+)"')


# --- the URLconf, as path templates ---------------------------------------------------------------------
def _regex_template(regex: str) -> str:
    """'^(?P<app_label>a|b)/$' -> '{app_label}/' (named groups, balanced parentheses)."""
    regex = regex.removeprefix("^").removesuffix("$")
    out, i = [], 0
    while i < len(regex):
        match = re.match(r"\(\?P<(\w+)>", regex[i:])
        if match is None:
            out.append(regex[i])
            i += 1
            continue
        depth, j = 1, i + match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(regex[j], 0)
            j += 1
        out.append("{" + match.group(1) + "}")
        i = j
    return "".join(out).replace("\\", "")


def _template(pattern) -> str:
    text = str(pattern.pattern)
    if type(pattern.pattern).__name__ == "RegexPattern":
        return _regex_template(text)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)


def url_templates(patterns=None, prefix="", namespace="") -> list[tuple[str, str]]:
    """(path template like 'customers/{pk}/edit/', namespaced name) for every pattern of the URLconf."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += url_templates(pattern.url_patterns, prefix + _template(pattern), ns)
        elif isinstance(pattern, URLPattern):
            found.append(("/" + prefix + _template(pattern), f"{namespace}{pattern.name or ''}"))
    return found


# --- real ids for each parameter ------------------------------------------------------------------------
def _first(label: str) -> str:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):  # not a model's admin page (admin/r/<content type>/<id>/)
        return "1"
    obj = model.objects.order_by("pk").first()
    return str(obj.pk) if obj is not None else "1"


def real_value(template: str, param: str, acme) -> str:
    if template.startswith("/admin/"):
        parts = template.split("/")
        if param == "object_id" and len(parts) > 3:
            return _first(f"{parts[2]}.{parts[3]}")
        return {"app_label": "customers", "url": "nowhere/"}.get(param, "1")
    if template.startswith("/portal/"):
        if param == "invoice_id":
            return str(acme.invoices.order_by("pk").first().pk)
        if param == "card_payment_id":
            return _first("finance.CardPayment")
        return {"uidb64": "MQ", "token": "set-password"}.get(param, "1")
    section = template.split("/")[1]
    by_param = {"wallet_pk": "customers.MasterWallet", "reservation_pk": "customers.Reservation",
                "subscription_pk": "customers.Subscription", "customer_id": "customers.Customer"}
    by_section = {"customers": "customers.Customer", "invoices": "invoices.Invoice", "payments": "finance.Payment",
                  "allocations": "finance.Allocation", "top-ups": "finance.TopUp",
                  "credit-notes": "finance.CreditNote", "withdrawals": "finance.Withdrawal"}
    if template.startswith("/payments/for-invoice/"):
        return _first("invoices.Invoice")
    label = by_param.get(param) or by_section.get(section)
    return _first(label) if label else "1"


# --- the walk -------------------------------------------------------------------------------------------
class Walk:
    def __init__(self):
        self.failures: list[str] = []
        self.requests = 0

    def call(self, client: Client, who: str, method: str, path: str, data: dict | None = None):
        self.requests += 1
        try:
            response = getattr(client, method)(path, data or {})
        except Exception as error:  # noqa: BLE001 - every exception is a finding, reported below
            self.failures.append(f"{who} {method.upper()} {path[:120]} {_short(data)}: {type(error).__name__}: "
                                 f"{str(error)[:200]}")
            return None
        if response.status_code >= 500:
            self.failures.append(f"{who} {method.upper()} {path[:120]} {_short(data)}: {response.status_code}")
        return response

    def pattern(self, client: Client, who: str, template: str, acme, *, fields: bool,
                methods: tuple[str, ...] = ("get", "post")) -> None:
        params = re.findall(r"\{(\w+)\}", template)
        real = {p: real_value(template, p, acme) for p in params}
        path = template.format(**real)
        # With real ids, by each method: which methods the view takes (a 405 is answered before the view reads
        # anything), and the names of the fields its forms show.
        names = list(QUERY_FIELDS)
        live = []
        for method in methods:
            response = self.call(client, who, method, path)
            if response is None or response.status_code != 405:
                live.append(method)
            if response is not None and response.status_code == 200 and \
                    response.get("Content-Type", "").startswith("text/html"):
                names += [n for n in FIELD_NAME.findall(response.content.decode()) if n != "csrfmiddlewaretoken"]
        names = list(dict.fromkeys(names))
        # NUL, refused before the URL is even resolved: in every path parameter at once, and in every field.
        if params:
            self.call(client, who, "get", template.format(**dict.fromkeys(params, "%00")))
        if fields:
            for method in live:
                self.call(client, who, method, path, dict.fromkeys(names, NUL))
        # Each path parameter given each other hostile value (the others real).
        for param in params:
            for value in PATH_HOSTILE:
                hostile = template.format(**{**real, param: quote(value, safe="")})
                for method in live if _resolves(hostile) else ["get"]:  # else the URLconf's 404 for any method
                    self.call(client, who, method, hostile)
        # Every field at once given each other hostile value.
        if fields:
            for value in HOSTILE:
                for method in live:
                    self.call(client, who, method, path, dict.fromkeys(names, value))


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _short(data: dict | None) -> str:
    if not data:
        return ""
    keys = ",".join(list(data)[:4])
    value = next(iter(data.values()))
    return f"[{keys}{'...' if len(data) > 4 else ''}={value[:12]!r}{'...' if len(value) > 12 else ''}]"


@pytest.fixture
def data(fake_stripe, settings):
    """One object of each kind a URL names (made through the services), the logins, and the customer."""
    settings.AXES_FAILURE_LIMIT = settings.AXES_IP_FAILURE_LIMIT = 10**6  # the walk signs in with garbage
    from django.utils import timezone

    from customers.services.reservations import reservation_reserve
    from finance.services.allocation import payment_allocate
    from finance.services.cards import card_payment_fulfil
    from finance.services.credit_notes import credit_note_issue
    from finance.services.top_ups import payment_top_up
    from finance.services.withdrawals import withdrawal_record
    from tests.customers.factories import SubscriptionFactory, funded_wallet, portal_user, top_up
    from tests.factories import finance_user
    from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice
    from tests.stripe.helpers import pay, start

    finance_user(username="finance")
    get_user_model().objects.create_superuser("admin", "admin@example.com", "x")
    acme = customer(name="Acme Pte Ltd", code="ACME", billing_email="billing@acme.example")
    portal_user(acme, "acme")
    top_up(acme, "500")
    invoice = purchase_invoice(acme, "40")
    purchase_invoice(acme, "30")
    top_up_invoice(acme, "20")
    payment_allocate(payment=payment(acme, "100"), lines=[(invoice.pk, "40")], actor=SYSTEM)
    payment_top_up(payment=payment(acme, "50"), amount="50", actor=SYSTEM)
    credit_note_issue(customer=acme, amount="5", reason="goodwill", actor=SYSTEM)
    withdrawal_record(customer=acme, amount="5", method="bank_transfer", actor=SYSTEM)
    reservation_reserve(customer_id=acme.pk, amount=Decimal("1"), actor=SYSTEM, at=timezone.now())
    SubscriptionFactory(customer=acme)
    funded_wallet("1000")
    card = start(acme, "25.00")  # a card top-up paid at the fake Stripe (its receipt, its success page)
    pay(fake_stripe, card)
    card_payment_fulfil(checkout_session_id=card.checkout_session_id, actor=SYSTEM)
    return acme


def _client(username: str | None) -> Client:
    client = Client()
    if username:
        client.force_login(get_user_model().objects.get(username=username), backend=MODEL_BACKEND)
    return client


def test_every_url_pattern_is_walked():
    templates = dict(url_templates())
    assert "/portal/invoices/{invoice_id}/pay/" in templates and "/customers/{pk}/edit/" in templates
    assert "/admin/{app_label}/" in templates and "/admin/customers/customer/{object_id}/change/" in templates
    assert len(templates) > 250


AREAS = {  # who walks which patterns (SIGN_OUT aside, walked anonymously)
    "finance": lambda t: not t.startswith(("/admin/", "/portal/", "/stripe/")),
    "acme": lambda t: t.startswith(("/portal/", "/stripe/")),
    "admin": lambda t: t.startswith("/admin/"),
}
# Anonymous: every pattern by path (most answer with the sign-in page), and every field of the pages anyone
# may fill in.
PUBLIC = ("/login/", "/portal/login/", "/portal/password", "/portal/reset/", "/stripe/", "/admin/login/")


def test_hostile_input_never_gives_a_5xx(data):
    walk = Walk()
    templates = url_templates()
    for username, chosen in AREAS.items():
        client = _client(username)
        for template, name in templates:
            if chosen(template) and name not in SIGN_OUT:
                # The admin's pages by path and GET only: Django's own views (every write goes through our
                # services, which the staff pages walk), the same few for every model.
                admin = username == "admin"
                walk.pattern(client, username, template, data, fields=not admin,
                             methods=("get",) if admin else ("get", "post"))
    anonymous = Client()
    for template, _ in templates:
        if template.startswith("/admin/") and not template.startswith(PUBLIC):
            continue  # the admin's own sign-in redirect, the same for each of its 200 patterns
        public = template.startswith(PUBLIC)
        walk.pattern(anonymous, "anonymous", template, data, fields=public,
                     methods=("get", "post") if public else ("get",))
    assert walk.requests > 2500  # about 3,000: the walk did walk
    assert not walk.failures, f"{len(walk.failures)} of {walk.requests} requests failed:\n" + "\n".join(
        walk.failures[:60])
