"""Organization management and Auto top-up runs. These patterns join finance/urls.py's urlpatterns (one
line there), so their names live in the "finance" namespace: finance:settings-list, finance:settings-edit,
finance:auto-top-up-runs."""

from django.urls import path

from . import views_settings as views

urlpatterns = [
    path("organizations/", views.settings_list, name="settings-list"),
    path("organizations/<int:customer_id>/payment-settings/", views.settings_edit, name="settings-edit"),
    path("auto-top-up/runs/", views.auto_top_up_runs, name="auto-top-up-runs"),
    path("auto-top-up/dry-run/", views.auto_top_up_dry_run, name="auto-top-up-dry-run"),
    path("auto-top-up/run-now/", views.auto_top_up_run_now_view, name="auto-top-up-run-now"),
]
