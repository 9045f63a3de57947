"""The reports (joined into the "finance" namespace by finance/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("reports/", views.reports, name="reports"),
    path("reports/aged-receivables/", views.aged_receivables, name="aged-receivables"),
    path(
        "reports/aged-receivables/refresh/", views.aged_receivables_refresh, name="aged-receivables-refresh"
    ),
]
