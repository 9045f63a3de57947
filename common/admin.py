"""What every app's Django admin shares: rows are browsed and searched, never added, edited in place or
deleted raw (money is never edited in place, and a save() here would skip the services' locks and audit).
What admin can do goes through the services, as actions built on `run_service`."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages

from audit.actors import Actor


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, no raw delete, every model field read only (plus the admin's own `readonly_fields`)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        names = [f.name for f in self.model._meta.fields] + list(self.readonly_fields)
        return list(dict.fromkeys(names))


class ServiceOnlyAdmin(ReadOnlyAdmin):
    """Read only; its actions call services, one object at a time, each refusal shown as an error message.

    `service_errors` are the domain exceptions a refusal raises (anything else is a bug and propagates)."""

    service_errors: tuple[type[Exception], ...] = ()

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
