"""Every model of Ledgerdesk's apps is in Django admin for superusers (the project's rule), so a new model
cannot be forgotten there."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin

OUR_APPS = ("audit", "customers", "invoices", "finance", "portal", "banking", "backoffice")


def test_every_model_of_our_apps_is_registered_in_admin():
    missing = [m._meta.label for m in apps.get_models()
               if m._meta.app_label in OUR_APPS and m not in admin.site._registry]
    assert missing == []
