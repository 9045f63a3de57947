"""What every app's Django admin shares: rows are browsed and searched, never added, edited in place or
deleted raw (money is never edited in place, and a save() here would skip the services' locks and audit).
What admin can do goes through the services, as actions built on `run_service`."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages

from audit.actors import Actor


class ViewOnly:
    """No add, no change, no delete, for superusers too; viewing stays Django's (the view or change permission).
    With no change permission Django renders the view-only page (no Save button) and refuses a posted change with
    403, so an immutable row never meets a save() (the ledger's trigger would raise: a 500) and a read-only form
    never reports a change it did not make."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ViewOnly, admin.ModelAdmin):
    """View only (ViewOnly), every model field listed read only as well (plus the admin's own
    `readonly_fields`)."""

    def get_readonly_fields(self, request, obj=None):
        names = [f.name for f in self.model._meta.fields] + list(self.readonly_fields)
        return list(dict.fromkeys(names))


class ReadOnlyInline(ViewOnly, admin.TabularInline):
    """An inline shown view only: an inline that could change would bring the parent's Save button back."""

    extra = 0
    can_delete = False


class ServiceOnlyAdmin(ReadOnlyAdmin):
    """Read only; its actions call services, one object at a time, each refusal shown as an error message.
    An action is declared with `permissions=["service"]`: the holders of the model's change permission may run
    it (the change page itself stays view only).

    `service_errors` are the domain exceptions a refusal raises (anything else is a bug and propagates)."""

    service_errors: tuple[type[Exception], ...] = ()

    def has_service_permission(self, request) -> bool:
        """Who may run this model's service actions: holders of its change permission."""
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def service_label(self, obj) -> str:
        """How an object is named in a refusal message."""
        return str(obj)

    def run_service(self, request, queryset, call: Callable[[object, Actor], object], done: str) -> None:
        ok = 0
        actor = Actor.from_request(request)
        for obj in queryset.order_by("pk"):
            try:
                call(obj, actor)
                ok += 1
            except self.service_errors as exc:
                self.message_user(request, f"{self.service_label(obj)}: {exc}", level=messages.ERROR)
        if ok:
            self.message_user(request, f"{ok} {done}.", level=messages.SUCCESS)


def service_action(name: str, description: str, call: Callable[[object, Actor], object], done: str, **only):
    """A ServiceOnlyAdmin action `name` (what the changelist posts) that runs `call(obj, actor)` through `run_service`
    on each selected object matching the filter `only`, for the holders of the model's change permission."""

    def action(modeladmin: ServiceOnlyAdmin, request, queryset) -> None:
        modeladmin.run_service(request, queryset.filter(**only), call, done)

    action.__name__ = name
    return admin.action(description=description, permissions=["service"])(action)
