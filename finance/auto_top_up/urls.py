"""Organization management (payment settings) and the auto top-up runs, dry run and run now (joined into the
"finance" namespace by finance/urls.py)."""

from django.urls import path

from . import views as views

urlpatterns = [
    path("organizations/", views.settings_list, name="settings-list"),
    path("organizations/<int:customer_id>/payment-settings/", views.settings_edit, name="settings-edit"),
    path("auto-top-up/runs/", views.auto_top_up_runs, name="auto-top-up-runs"),
    path("auto-top-up/runs/<int:run_id>/progress/", views.auto_top_up_run_progress, name="auto-top-up-run-progress"),
    path("auto-top-up/dry-run/", views.auto_top_up_dry_run, name="auto-top-up-dry-run"),
    path("auto-top-up/run-now/", views.auto_top_up_run_now_view, name="auto-top-up-run-now"),
]
