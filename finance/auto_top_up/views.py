"""Finance > Organization management (each customer's payment settings, the clock icon's form) and the
Auto top-up runs page (the daily job's decision log with the day's totals). Thin views: validate, one
service call, render; a refusal is shown on the page (status 200) and changes nothing."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from common.form_tokens import submit_once
from common.lists import (
    csv_filename,
    csv_response,
    csv_text,
    htmx_template,
    iterate,
    list_context,
    paginate,
    paginate_deep,
    querystring_without_page,
    redirect_page,
    wants_csv,
)
from common.permissions import staff_view
from common.times import local_time, local_time_iso
from customers.models import Customer
from customers.selectors import currencies

from ..models import AutoTopUpDecision, AutoTopUpRun, PaymentSettings, TopUpMethod
from ..services.auto_top_up import PaymentSettingsError, auto_top_up_run_now, payment_settings_update
from . import selectors as selectors
from .filters import DryRunFilterSet, RunsFilterSet, SettingsFilterSet
from .forms import PaymentSettingsForm


def _amount(value) -> str:
    return "" if value is None else str(value)


# --- Organization management ------------------------------------------------------------------------------
SETTINGS_CSV = ["customer_code", "customer", "currency", "payment_method", "trigger_amount", "limit_threshold",
                "auto_top_up", "usable_credits", "last_auto_top_up_date", "last_auto_top_up_status"]


def _settings_of(c: Customer) -> PaymentSettings | None:
    """The customer's settings from the select_related join, or None when it has none yet."""
    try:
        return c.payment_settings
    except PaymentSettings.DoesNotExist:
        return None


def _settings_row(c: Customer) -> list:
    ps = _settings_of(c)
    return [csv_text(c.code), csv_text(c.name), c.currency, ps.method if ps else TopUpMethod.CHEQUE_TT,
            _amount(ps.trigger_amount if ps else None), _amount(ps.limit_threshold if ps else None),
            "on" if ps and ps.auto_top_up_enabled else "off", c.usable_credits,
            c.last_auto_top_up_date.isoformat() if c.last_auto_top_up_date else "", c.last_auto_top_up_status or ""]


@require_GET
@staff_view("finance.view_paymentsettings")
def settings_list(request):
    filters = SettingsFilterSet(request.GET, selectors.settings_list(), currencies=currencies())
    customers = filters.qs
    if wants_csv(request):
        return csv_response(csv_filename("payment-settings"), SETTINGS_CSV,
                            iterate(selectors.with_latest_auto_top_up(customers), _settings_row))
    page = paginate_deep(request, customers)  # the page's keys from customer_name_idx, the last page read backwards
    page.object_list = list(page.object_list)
    selectors.latest_auto_top_ups(page.object_list)
    for c in page.object_list:
        c.ps = _settings_of(c)
    return render(request, htmx_template(request, "finance/settings_list.html", "settings-table"),
                  list_context(request, filters, page))


@require_http_methods(["GET", "POST"])
@staff_view("finance.view_paymentsettings")
def settings_edit(request, customer_id: int):
    customer = get_object_or_404(Customer, pk=customer_id)
    current = PaymentSettings.objects.filter(customer=customer).first()
    can_change = request.user.has_perm("finance.change_paymentsettings")
    refresh_url = reverse("finance:settings-edit", args=[customer.pk])
    card_amounts = selectors.card_choices(customer.pk, current)
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied("Your role does not allow changing payment settings.")
        form = PaymentSettingsForm(request.POST, current=current, refresh_url=refresh_url, card_amounts=card_amounts)
        if form.is_valid():
            d = form.cleaned_data
            card = d["method"] == TopUpMethod.CARD
            try:
                payment_settings_update(customer_id=customer.pk, method=d["method"],
                                        trigger_amount=None if card else d["trigger_amount"],
                                        limit_threshold=None if card else d["limit_threshold"],
                                        auto_top_up_enabled=d["auto_top_up_enabled"],
                                        actor=Actor.from_request(request))
            except PaymentSettingsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Payment settings of {customer.name} saved.")
                return redirect_page(request, refresh_url)
    elif request.htmx and "method" in request.GET:
        # The method select changed: show the form for that method (card: the customer's amounts, read only).
        chosen = request.GET.get("method")
        initial = {"method": chosen, "auto_top_up_enabled": request.GET.get("auto_top_up_enabled") == "on"}
        if chosen != TopUpMethod.CARD:
            initial.update(trigger_amount=request.GET.get("trigger_amount", ""),
                           limit_threshold=request.GET.get("limit_threshold", ""))
        form = PaymentSettingsForm(current=current, method=chosen, refresh_url=refresh_url, card_amounts=card_amounts,
                                   initial=initial)
    else:
        form = PaymentSettingsForm(current=current, refresh_url=refresh_url, card_amounts=card_amounts)
    context = {"customer": customer, "settings": current, "form": form, "can_change": can_change,
               "recent": selectors.recent_auto_top_ups(customer.pk), "usable": customer.usable_credits,
               "has_card": bool(customer.stripe_customer_id and customer.stripe_payment_method_id)}
    return render(request, htmx_template(request, "finance/settings_form.html", "settings-form"), context)


# --- Auto top-up runs -------------------------------------------------------------------------------------
DECISION_CSV = ["run_date", "run", "customer_code", "customer", "decision", "method", "usable_credits",
                "limit_threshold", "trigger_amount", "reason", "invoice", "decided_at"]


def _decision_row(d: AutoTopUpDecision) -> list:
    invoice = d.auto_top_up.invoice if d.auto_top_up_id and d.auto_top_up.invoice_id else None
    return [d.run_date.isoformat(), d.run_id, csv_text(d.customer.code), csv_text(d.customer.name), d.decision, d.method,
            _amount(d.usable_credits), _amount(d.limit_threshold), _amount(d.trigger_amount), csv_text(d.reason),
            invoice.number if invoice else "", local_time_iso(d.decided_at)]


def _day(request) -> dt.date:
    raw = request.GET.get("date") or ""
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return selectors.latest_run_date() or timezone.localdate()


@require_GET
@staff_view("finance.view_autotopuprun")
def auto_top_up_runs(request):
    day = _day(request)
    runs = selectors.runs_of_day(day)
    data = request.GET.copy()
    data.setdefault("date", day.isoformat())  # the day shown (the latest run's when none is asked for)
    filters = RunsFilterSet(data, selectors.decision_list(run_date=day), runs=runs)
    decisions = filters.qs
    if wants_csv(request):
        return csv_response(f"auto-top-up-{day.isoformat()}.csv", DECISION_CSV, iterate(decisions, _decision_row))
    progress = [selectors.run_progress(r.pk) for r in runs if not r.is_finished and not r.is_queued]
    context = {"form": filters.form, "day": day, "runs": runs, "totals": selectors.day_totals(day, runs),
               "progress": progress,
               "page": paginate(request, decisions), "qs": querystring_without_page(request),
               "previous_day": day - dt.timedelta(days=1), "next_day": day + dt.timedelta(days=1)}
    return render(request, htmx_template(request, "finance/auto_top_up_runs.html", "decision-table"), context)


@require_GET
@staff_view("finance.view_autotopuprun")
def auto_top_up_run_progress(request, run_id: int):
    """One run's progress, polled by htmx every 2 s while it runs (the answer without a trigger stops it)."""
    run = get_object_or_404(AutoTopUpRun, pk=run_id)
    return render(request, "finance/_auto_top_up_run_progress.html", {"p": selectors.run_progress(run.pk)})


# --- What today's run would do, and Run now ------------------------------------------------------------------
DRY_RUN_CSV = ["run_date", "customer_code", "customer", "currency", "method", "amount", "usable_credits",
               "limit_threshold", "note"]


def _dry_run_note(row: PaymentSettings) -> str:
    return "Resumes the card charge in progress" if row.today_status == "pending" else ""


def _dry_run_row(day: dt.date):
    def row(ps: PaymentSettings) -> list:
        return [day.isoformat(), csv_text(ps.customer.code), csv_text(ps.customer.name), ps.currency, ps.method,
                _amount(ps.amount), _amount(ps.usable), _amount(ps.limit_threshold), _dry_run_note(ps)]
    return row


@require_GET
@staff_view("finance.view_autotopuprun")
def auto_top_up_dry_run(request):
    """Who today's run would top up if it ran now, by which method and how much: the run's own rule
    (selectors_settings.auto_top_up_classification), read and written nowhere."""
    day = timezone.localdate()
    filters = DryRunFilterSet(request.GET, selectors.dry_run_rows(day), currencies=currencies())
    summary, candidates = selectors.dry_run(day, filters.qs)
    if wants_csv(request):
        return csv_response(f"auto-top-up-dry-run-{day.isoformat()}.csv", DRY_RUN_CSV,
                            iterate(candidates, _dry_run_row(day)))
    context = {"form": filters.form, "day": day, "summary": summary, "qs": querystring_without_page(request),
               "page": paginate(request, candidates, count=summary.candidates)}
    return render(request, htmx_template(request, "finance/auto_top_up_dry_run.html", "dry-run-table"), context)


@require_POST
@staff_view("finance.add_autotopuprun")
def auto_top_up_run_now_view(request):
    """Run now carries a one-time form token like every form that moves money: a second POST of the same form
    (a double click, a reload) queues nothing and goes to the first one's run."""

    def run_now() -> str:
        result = auto_top_up_run_now(actor=Actor.from_request(request))
        run = result.run
        if result.queued:
            messages.success(request, f"Run #{run.pk} of today's auto top-up queued; it runs on a worker as the "
                                      "scheduled run does. Its results appear below when it has finished.")
        else:
            state = "waiting for a worker" if run.is_queued else "under way"
            messages.info(request, f"Run #{run.pk} of today ({run.get_trigger_display().lower()}, "
                                   f"{local_time(run.since)}) is {state}: no second run was queued.")
        return f"{reverse('finance:auto-top-up-runs')}?date={run.run_date.isoformat()}"

    return redirect_page(request, submit_once(request, run_now, busy_url=reverse("finance:auto-top-up-runs")))
