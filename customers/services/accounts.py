"""Customer accounts: create, change settings (credit limit, invoice setup, portal setting...), and portal
logins. Every change is audited with the fields before and after."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.services import audit_record

from ..currencies import CurrencyError, clean_currency
from ..models import AccountType, Customer, CustomerUser, InvoiceSetup, Reservation, Transaction
from ..money import ZERO, max_credit_limit
from ._common import amount_or_error, locked_customer

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


class CustomerError(ValueError):
    """A customer's details or settings that cannot be accepted; the message says why."""


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise CustomerError("The customer's name is required.")
    if len(name) > 200:
        raise CustomerError("The customer's name can have at most 200 characters.")
    return name


def _clean_code(code: str) -> str:
    code = (code or "").strip().upper()
    if not CODE_RE.match(code):
        raise CustomerError("The code must be 1 to 32 letters, digits, '-' or '_', starting with a letter or digit.")
    return code


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise CustomerError(f"The billing email {email!r} is not a valid email address.")
    return email


def _clean_currency(currency: str) -> str:
    try:
        return clean_currency(currency)
    except CurrencyError as exc:
        raise CustomerError(str(exc))


def _clean_choice(value: str, choices: type, what: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise CustomerError(f"{what} must be one of: {allowed}.")
    return value


def _check_credit_limit(account_type: str, credit_limit: Decimal) -> None:
    if account_type == AccountType.PREPAID and credit_limit != ZERO:
        raise CustomerError("A prepaid account has no credit limit: set the credit limit to 0, or make the "
                            "account postpaid.")


def _code_taken_error(code: str) -> CustomerError:
    other = Customer.objects.filter(code=code).values_list("name", flat=True).first()
    return CustomerError(f"The code {code} is already used by {other or 'another customer'}.")


@transaction.atomic
def customer_create(
    *,
    name: str,
    code: str,
    billing_email: str,
    currency: str = "SGD",
    account_type: str = AccountType.PREPAID,
    invoice_setup: str = InvoiceSetup.INDIVIDUAL,
    credit_limit: Decimal = ZERO,
    show_invoices_tab: bool = True,
    actor: Actor,
    at: dt.datetime | None = None,
) -> Customer:
    """A new customer account with an empty ledger."""
    data = {
        "name": _clean_name(name),
        "code": _clean_code(code),
        "billing_email": _clean_email(billing_email),
        "currency": _clean_currency(currency),
        "account_type": _clean_choice(account_type, AccountType, "The account type"),
        "invoice_setup": _clean_choice(invoice_setup, InvoiceSetup, "The invoice setup"),
        "credit_limit": amount_or_error(credit_limit, CustomerError, field="Credit limit", allow_zero=True,
                                        maximum=max_credit_limit()),
        "show_invoices_tab": bool(show_invoices_tab),
    }
    _check_credit_limit(data["account_type"], data["credit_limit"])
    if Customer.objects.filter(code=data["code"]).exists():
        raise _code_taken_error(data["code"])
    try:
        with transaction.atomic():
            customer = Customer.objects.create(**data)
    except IntegrityError:  # the same code created at the same moment
        raise _code_taken_error(data["code"])
    audit_record(actor=actor, action="customers.customer.create", app="customers", obj=customer,
                 customer_id=customer.pk, after=data, at=at)
    return customer


@transaction.atomic
def customer_update(
    *,
    customer_id: int,
    actor: Actor,
    at: dt.datetime | None = None,
    reason: str = "",
    name: str | None = None,
    code: str | None = None,
    billing_email: str | None = None,
    currency: str | None = None,
    account_type: str | None = None,
    invoice_setup: str | None = None,
    credit_limit: Decimal | None = None,
    show_invoices_tab: bool | None = None,
) -> Customer:
    """Change a customer's settings; arguments left as None stay as they are. Writes one audit event with
    the changed fields before and after, or nothing when nothing changes."""
    # A new code changes the row's key: FOR UPDATE (see customers/locks.py), not FOR NO KEY UPDATE.
    customer = locked_customer(customer_id, CustomerError, key_change=code is not None)
    wanted: dict[str, object] = {}
    if name is not None:
        wanted["name"] = _clean_name(name)
    if code is not None:
        wanted["code"] = _clean_code(code)
    if billing_email is not None:
        wanted["billing_email"] = _clean_email(billing_email)
    if currency is not None:
        wanted["currency"] = _clean_currency(currency)
    if account_type is not None:
        wanted["account_type"] = _clean_choice(account_type, AccountType, "The account type")
    if invoice_setup is not None:
        wanted["invoice_setup"] = _clean_choice(invoice_setup, InvoiceSetup, "The invoice setup")
    if credit_limit is not None:
        wanted["credit_limit"] = amount_or_error(credit_limit, CustomerError, field="Credit limit", allow_zero=True,
                                                 maximum=max_credit_limit())
    if show_invoices_tab is not None:
        wanted["show_invoices_tab"] = bool(show_invoices_tab)

    changed = {k: v for k, v in wanted.items() if getattr(customer, k) != v}
    if not changed:
        return customer
    _check_credit_limit(changed.get("account_type", customer.account_type),
                        changed.get("credit_limit", customer.credit_limit))  # type: ignore[arg-type]
    if "currency" in changed and (Transaction.objects.filter(customer_id=customer.pk).exists()
                                  or Reservation.objects.filter(customer_id=customer.pk).exists()):
        raise CustomerError(f"The currency cannot change once the account has transactions: its ledger is in "
                            f"{customer.currency}.")
    if "code" in changed and Customer.objects.filter(code=changed["code"]).exclude(pk=customer.pk).exists():
        raise _code_taken_error(changed["code"])  # type: ignore[arg-type]
    before = {k: getattr(customer, k) for k in changed}
    try:
        with transaction.atomic():
            Customer.objects.filter(pk=customer.pk).update(**changed)
    except IntegrityError:
        raise _code_taken_error(changed.get("code", customer.code))  # type: ignore[arg-type]
    customer.refresh_from_db()
    audit_record(actor=actor, action="customers.customer.update", app="customers", obj=customer,
                 customer_id=customer.pk, before=before, after=changed, reason=reason, at=at)
    return customer


@transaction.atomic
def customer_user_create(
    *,
    customer_id: int,
    username: str,
    email: str,
    password: str,
    actor: Actor,
    at: dt.datetime | None = None,
) -> CustomerUser:
    """A portal login for one customer (never staff)."""
    customer = locked_customer(customer_id, CustomerError)
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise CustomerError("The username is required (at most 150 characters).")
    email = _clean_email(email) if email else ""
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise CustomerError(f"The username {username} is already taken.")
    user = User(username=username, email=email, is_staff=False, is_superuser=False)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CustomerError(" ".join(exc.messages))
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            membership = CustomerUser.objects.create(user=user, customer=customer)
    except IntegrityError:
        raise CustomerError(f"The username {username} is already taken.")
    audit_record(actor=actor, action="customers.customer_user.create", app="customers", obj=membership,
                 customer_id=customer.pk, after={"username": username, "email": email, "customer": customer.code},
                 at=at)
    return membership
