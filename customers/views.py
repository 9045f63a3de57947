"""Staff pages for customers: the list, the customer page and its tabs, and the master wallets. Views
validate input, make one service call and render; a refusal is shown on the page and changes nothing."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from audit.selectors import audit_events
from common.form_tokens import submit_form
from common.ids import parse_id
from common.lists import (
    csv_filename,
    csv_response,
    csv_text,
    htmx_page,
    htmx_template,
    iterate,
    list_page,
    paginate,
    querystring_without_page,
    redirect_page,
    wants_csv,
)
from common.permissions import staff_view
from common.times import local_time_iso

from . import selectors
from .filters import (
    CustomerFilterSet,
    NotificationFilterSet,
    ReservationFilterSet,
    SubscriptionFilterSet,
    TransactionFilterSet,
)
from .forms import (
    AdjustmentForm,
    CustomerForm,
    PortalUserForm,
    SubscriptionForm,
    TransferForm,
    WalletCreateForm,
    WalletFundForm,
)
from .models import Customer, MasterWallet, Reservation, Subscription
from .money import display
from .services import (
    ChargeError,
    CustomerError,
    ReservationError,
    SubscriptionError,
    WalletError,
    adjustment_post,
    customer_create,
    customer_update,
    customer_user_create,
    master_wallet_create,
    master_wallet_fund,
    master_wallet_transfer,
    reservation_release,
    subscription_create,
    subscription_update,
)

# --- the list ------------------------------------------------------------------------------------------
CUSTOMER_CSV_HEADER = ["code", "name", "account_type", "invoice_setup", "currency", "billing_email", "credit_limit",
                       "expecting_invoice", "amount_due", "current_balance", "reserved_credits", "usable_credits",
                       "show_invoices_tab"]


def _customer_csv_row(c: Customer) -> list:
    return [csv_text(c.code), csv_text(c.name), c.account_type, c.invoice_setup, c.currency, csv_text(c.billing_email),
            c.credit_limit,
            c.amount_unbilled, c.amount_due, c.current_balance, c.amount_reserved, c.usable_credits,
            "yes" if c.show_invoices_tab else "no"]


@require_GET
@staff_view("customers.view_customer")
def customer_options(request):
    """The customer picker's <option>s (forms.CustomerPicker): the text typed in the field named `field`."""
    q = request.GET.get(request.GET.get("field") or "customer", "")
    options = selectors.customer_options(q, currency=request.GET.get("currency", "")[:3])
    return render(request, "customers/_customer_options.html", {"options": options})


@require_GET
@staff_view("customers.view_customer")
def customer_list(request):
    filters = CustomerFilterSet(request.GET, selectors.customer_list(), currencies=selectors.currencies())
    return list_page(request, filters, template="customers/customer_list.html", target="customer-table",
                     csv_prefix="customers", csv_header=CUSTOMER_CSV_HEADER, csv_row=_customer_csv_row,
                     one_pass=bool(filters.values.get("q")))


@require_http_methods(["GET", "POST"])
@staff_view("customers.add_customer")
def customer_new(request):
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            customer = customer_create(**data, actor=Actor.from_request(request))
        except CustomerError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Customer {customer.code} created.")
            return redirect_page(request, reverse("customers:detail", args=[customer.pk]))
    return htmx_page(request, "customers/customer_form.html", "customer-form", {"form": form, "customer": None})


@require_http_methods(["GET", "POST"])
@staff_view("customers.change_customer")
def customer_edit(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    initial = {f: getattr(customer, f) for f in ("name", "code", "billing_email", "currency", "account_type",
                                                 "invoice_setup", "show_invoices_tab", "credit_limit")}
    form = CustomerForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            customer_update(customer_id=customer.pk, actor=Actor.from_request(request), **form.cleaned_data)
        except CustomerError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Settings of {customer.code} saved.")
            return redirect_page(request, reverse("customers:detail", args=[customer.pk]))
    return htmx_page(request, "customers/customer_form.html", "customer-form", {"form": form, "customer": customer})


# --- the customer page and its tabs --------------------------------------------------------------------
def _tab_context(request, customer: Customer, tab: str) -> dict:
    return {"customer": customer, "figures": selectors.customer_figures(customer), "tab": tab}


@require_GET
@staff_view("customers.view_customer")
def customer_detail(request, pk: int):
    """The Payment tab: the figures, each linking to the rows that make it up."""
    customer = get_object_or_404(Customer, pk=pk)
    context = _tab_context(request, customer, "payment")
    context["portal_users"] = list(customer.users.select_related("user").order_by("user__username"))
    context["subscription_totals"] = selectors.subscription_totals(customer)
    return render(request, "customers/customer_detail.html", context)


TRANSACTION_CSV_HEADER = ["id", "occurred_at", "kind", "amount", "currency", "figure", "billed_by", "billed_at",
                          "reference", "description"]


@require_GET
@staff_view("customers.view_customer", "customers.view_transaction")
def customer_transactions(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    filters = TransactionFilterSet(request.GET, selectors.transactions_for(customer))
    rows = filters.qs
    if wants_csv(request):

        def row(t):
            figure = "billed" if t.billed_at else t.bucket
            return [t.pk, local_time_iso(t.occurred_at), t.kind, t.amount, customer.currency, figure,
                    csv_text(t.billed_document), local_time_iso(t.billed_at) if t.billed_at else "", csv_text(t.reference),
                    csv_text(t.description)]

        return csv_response(csv_filename(f"transactions-{customer.code}"), TRANSACTION_CSV_HEADER, iterate(rows, row))
    context = _tab_context(request, customer, "transactions")
    # The Reverse link's URL up to the entry's id, once per page rather than a {% url %} and a permission
    # lookup per row (100 rows: bench issue 9); empty when the user may not post a correction.
    can_reverse = request.user.has_perm("customers.add_transaction")
    context.update(form=filters.form, summary=selectors.transaction_summary(rows),
                   view_label=selectors.TRANSACTION_VIEWS.get(filters.values.get("view", ""), ("",))[0],
                   qs=querystring_without_page(request), limit=selectors.LATEST_TRANSACTIONS,
                   reverse_url=f"{reverse('customers:adjust', args=[customer.pk])}?reverses=" if can_reverse else "")
    return render(request, htmx_template(request, "customers/customer_transactions.html", "transaction-table"), context)


def _tab_list(request, customer: Customer, tab: str, filters, *, template: str, target: str, csv_name: str,
              csv_header: list[str], csv_row, **extra):
    """A list tab of the customer page: common.lists.list_page under the customer's header; `extra`: what else its
    template reads."""
    return list_page(request, filters, template=template, target=target, csv_prefix=f"{csv_name}-{customer.code}",
                     csv_header=csv_header, csv_row=csv_row, context={**_tab_context(request, customer, tab), **extra})


RESERVATION_CSV_HEADER = ["id", "kind", "reference", "reserved_at", "expires_at", "status", "amount", "currency",
                          "charged"]


@require_GET
@staff_view("customers.view_customer", "customers.view_reservation")
def customer_reservations(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)

    def row(r):
        return [r.pk, r.kind, csv_text(r.reference), local_time_iso(r.created_at), local_time_iso(r.expires_at),
                r.status, r.amount, customer.currency, "" if r.committed_amount is None else r.committed_amount]

    return _tab_list(request, customer, "reservations",
                     ReservationFilterSet(request.GET, selectors.reservations_for(customer)),
                     template="customers/customer_reservations.html", target="reservation-table",
                     csv_name="reservations", csv_header=RESERVATION_CSV_HEADER, csv_row=row, now=timezone.now())


@require_POST
@staff_view("customers.change_reservation")
def reservation_release_view(request, pk: int, reservation_pk: int):
    reservation = get_object_or_404(Reservation, pk=reservation_pk, customer_id=pk)
    try:
        reservation_release(reservation_id=reservation.pk, actor=Actor.from_request(request), at=timezone.now(),
                            reason=request.POST.get("reason", "")[:255] or "Released by staff")
    except ReservationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Reservation #{reservation.pk} released: its credits are usable again.")
    return redirect_page(request, reverse("customers:reservations", args=[pk]))


SUBSCRIPTION_CSV_HEADER = ["id", "product", "kind", "quantity", "period_months", "renewal_date", "renewal_price",
                           "renewal_cost", "margin", "currency", "active"]


@require_GET
@staff_view("customers.view_customer", "customers.view_subscription")
def customer_subscriptions(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)

    def row(s):
        return [s.pk, csv_text(s.product), s.kind, s.quantity, s.period_months, s.renewal_date.isoformat(),
                s.renewal_price, s.renewal_cost, s.margin_value, customer.currency, "yes" if s.is_active else "no"]

    return _tab_list(request, customer, "subscriptions",
                     SubscriptionFilterSet(request.GET, selectors.subscriptions_for(customer)),
                     template="customers/customer_subscriptions.html", target="subscription-table",
                     csv_name="subscriptions", csv_header=SUBSCRIPTION_CSV_HEADER, csv_row=row,
                     totals=selectors.subscription_totals(customer))


def _subscription_form(request, customer: Customer, subscription: Subscription | None):
    initial = {}
    if subscription is not None:
        initial = {f: getattr(subscription, f) for f in ("product", "kind", "quantity", "period_months",
                                                         "renewal_date", "is_active", "renewal_price", "renewal_cost")}
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        actor = Actor.from_request(request)
        try:
            if subscription is None:
                saved = subscription_create(customer_id=customer.pk, actor=actor, **form.cleaned_data)
            else:
                saved = subscription_update(subscription_id=subscription.pk, actor=actor, **form.cleaned_data)
        except SubscriptionError as exc:
            form.add_error(None, str(exc))
        else:
            note = (f" Its margin is negative ({display(saved.margin)} {customer.currency} per unit): the cost is "
                    "above the price.") if saved.margin < 0 else ""
            (messages.warning if note else messages.success)(request, f"Subscription {saved.product} saved.{note}")
            return redirect_page(request, reverse("customers:subscriptions", args=[customer.pk]))
    return htmx_page(request, "customers/subscription_form.html", "subscription-form",
                     {"form": form, "customer": customer, "subscription": subscription})


@require_http_methods(["GET", "POST"])
@staff_view("customers.add_subscription")
def subscription_new(request, pk: int):
    return _subscription_form(request, get_object_or_404(Customer, pk=pk), None)


@require_http_methods(["GET", "POST"])
@staff_view("customers.change_subscription")
def subscription_edit(request, pk: int, subscription_pk: int):
    subscription = get_object_or_404(Subscription, pk=subscription_pk, customer_id=pk)
    return _subscription_form(request, subscription.customer, subscription)


NOTIFICATION_CSV_HEADER = ["id", "sent_at", "kind", "channel", "recipient", "subject", "status"]


@require_GET
@staff_view("customers.view_customer", "customers.view_notification")
def customer_notifications(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)

    def row(n):
        return [n.pk, local_time_iso(n.sent_at), n.kind, n.channel, csv_text(n.recipient), csv_text(n.subject),
                n.status]

    return _tab_list(request, customer, "notifications",
                     NotificationFilterSet(request.GET, selectors.notifications_for(customer)),
                     template="customers/customer_notifications.html", target="notification-table",
                     csv_name="notifications", csv_header=NOTIFICATION_CSV_HEADER, csv_row=row)


@require_GET
@staff_view("customers.view_customer", "audit.view_auditevent")
def customer_audit(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    context = _tab_context(request, customer, "audit")
    context.update(page=paginate(request, audit_events(customer_id=customer.pk)), qs=querystring_without_page(request))
    return render(request, "customers/customer_audit.html", context)


# --- actions on a customer -----------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@staff_view("customers.view_customer", "customers.add_transaction")
def adjustment_new(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    initial = {"reverses": parse_id(request.GET.get("reverses"))} if parse_id(request.GET.get("reverses")) else {}
    form = AdjustmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def post() -> str:
            row = adjustment_post(customer_id=customer.pk, reverses_id=data["reverses"], amount=data["amount"],
                                  reason=data["reason"], actor=Actor.from_request(request), at=timezone.now())
            messages.success(request, f"Adjustment #{row.pk} of {display(row.amount)} {customer.currency} posted.")
            return reverse("customers:transactions", args=[customer.pk])
        if response := submit_form(request, form, post, ChargeError):
            return response
    return htmx_page(request, "customers/adjustment_form.html", "adjustment-form",
                     {"form": form, "customer": customer})


@require_http_methods(["GET", "POST"])
@staff_view("customers.view_customer", "customers.add_masterwalletentry")
def transfer_new(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    form = TransferForm(request.POST or None, currency=customer.currency)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def transfer() -> str:
            master_wallet_transfer(customer_id=customer.pk, amount=data["amount"], wallet_id=data["wallet"].pk,
                                   reference=data["reference"], actor=Actor.from_request(request), at=timezone.now())
            messages.success(request, f"{display(data['amount'])} {customer.currency} of credit issued to "
                                      f"{customer.code} from {data['wallet'].name}.")
            return reverse("customers:detail", args=[customer.pk])
        if response := submit_form(request, form, transfer, WalletError):
            return response
    return htmx_page(request, "customers/transfer_form.html", "transfer-form", {"form": form, "customer": customer})


@require_http_methods(["GET", "POST"])
@staff_view("customers.view_customer", "customers.add_customeruser")
def portal_user_new(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    form = PortalUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer_user_create(customer_id=customer.pk, username=data["username"], email=data["email"],
                                 password=data["password"], actor=Actor.from_request(request))
        except CustomerError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Portal login {data['username']} created for {customer.code}.")
            return redirect_page(request, reverse("customers:detail", args=[customer.pk]))
    return htmx_page(request, "customers/portal_user_form.html", "portal-user-form",
                     {"form": form, "customer": customer})


# --- master wallets ------------------------------------------------------------------------------------
@require_GET
@staff_view("customers.view_masterwallet")
def wallet_list(request):
    return render(request, "customers/masterwallet_list.html", {"wallets": list(selectors.master_wallets())})


@require_http_methods(["GET", "POST"])
@staff_view("customers.add_masterwallet")
def wallet_new(request):
    form = WalletCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            wallet = master_wallet_create(actor=Actor.from_request(request), **form.cleaned_data)
        except WalletError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Wallet {wallet.name} opened.")
            return redirect_page(request, reverse("customers:wallet", args=[wallet.pk]))
    return htmx_page(request, "customers/masterwallet_form.html", "wallet-form", {"form": form})


def _wallet_page(request, wallet: MasterWallet, form: WalletFundForm) -> HttpResponse:
    entries = selectors.master_wallet_entries(wallet)
    context = {"wallet": wallet, "form": form, "page": paginate(request, entries), "qs": querystring_without_page(request)}
    template = "customers/masterwallet_detail.html"
    if request.htmx and request.method == "POST":
        template += "#fund-form"
    return render(request, template, context)


@require_GET
@staff_view("customers.view_masterwallet")
def wallet_detail(request, wallet_pk: int):
    wallet = get_object_or_404(MasterWallet, pk=wallet_pk)
    if wants_csv(request):
        return csv_response(
            csv_filename(f"wallet-{wallet.pk}"), ["id", "created_at", "amount", "currency", "customer", "reference"],
            iterate(selectors.master_wallet_entries(wallet),
                    lambda e: [e.pk, local_time_iso(e.created_at), e.amount, wallet.currency,
                               csv_text(e.customer.code) if e.customer else "", csv_text(e.reference)]))
    return _wallet_page(request, wallet, WalletFundForm())


@require_POST
@staff_view("customers.view_masterwallet", "customers.add_masterwalletentry")
def wallet_fund(request, wallet_pk: int):
    wallet = get_object_or_404(MasterWallet, pk=wallet_pk)
    form = WalletFundForm(request.POST)
    if form.is_valid():
        def fund() -> str:
            master_wallet_fund(wallet_id=wallet.pk, amount=form.cleaned_data["amount"],
                               reference=form.cleaned_data["reference"], actor=Actor.from_request(request),
                               at=timezone.now())
            messages.success(request, f"{display(form.cleaned_data['amount'])} {wallet.currency} added to "
                                      f"{wallet.name}.")
            return reverse("customers:wallet", args=[wallet.pk])
        if response := submit_form(request, form, fund, WalletError,
                                   busy_url=reverse("customers:wallet", args=[wallet.pk])):
            return response
    return _wallet_page(request, wallet, form)
