"""Settings -> API keys (staff): the list (search, filter, pagination, CSV), making a key (its value shown
once, on the page that made it) and revoking one. Plus the 404 problem of any unknown /api/ address."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from common.lists import csv_text, list_page
from common.permissions import staff_view
from common.times import local_time_iso

from . import selectors
from .filters import ApiKeyFilterSet
from .forms import ApiKeyForm
from .models import ApiKey
from .problems import Problem, problem_response
from .services import ApiKeyError, api_key_create, api_key_revoke

CSV_HEADER = ["id", "client", "prefix", "scopes", "created_at", "created_by", "last_used_at", "revoked_at"]


def _when(value) -> str:
    return local_time_iso(value) if value else ""


def _row(k: ApiKey) -> list:
    return [k.pk, csv_text(k.name), k.prefix, " ".join(k.scopes), _when(k.created_at), csv_text(k.created_by),
            _when(k.last_used_at), _when(k.revoked_at)]


@require_GET
@staff_view("api.view_apikey")
def key_list(request):
    return list_page(request, ApiKeyFilterSet(request.GET, selectors.api_key_list()), template="api/apikey_list.html",
                     target="apikey-table", csv_prefix="api-keys", csv_header=CSV_HEADER, csv_row=_row)


@require_http_methods(["GET", "POST"])
@staff_view("api.add_apikey")
def key_create(request):
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, plain = api_key_create(name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                                        actor=Actor.from_request(request), at=timezone.now())
        except ApiKeyError as exc:
            form.add_error(None, str(exc))
        else:
            # Shown on this response only: not stored, not put in the session or a redirect.
            return render(request, "api/apikey_created.html", {"key": key, "plain": plain})
    return render(request, "api/apikey_form.html", {"form": form})


@require_POST
@staff_view("api.change_apikey")
def key_revoke(request, pk: int):
    key = get_object_or_404(ApiKey, pk=pk)
    try:
        api_key_revoke(key_id=key.pk, actor=Actor.from_request(request), at=timezone.now(),
                       reason="Revoked on Settings -> API keys")
    except ApiKeyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The key {key.prefix}… of {key.name} is revoked: requests with it get 401.")
    return redirect("api:settings-api-keys")


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    return problem_response(Problem("not-found", "There is no such endpoint. The endpoints are listed at "
                                                 "/api/v1/docs."))
