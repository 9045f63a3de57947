from django.contrib import admin
from django.urls import include, path, re_path

from api import views as api_views
from api.v1 import api as api_v1
from backoffice import views as backoffice
from finance.payments import views as finance_payment_views
from invoices import urls as invoices_urls

admin.site.site_header = "Ledgerdesk administration"
admin.site.login = backoffice.sign_in  # one sign-in page, throttled and audited

urlpatterns = [
    path("", backoffice.dashboard, name="dashboard"),
    path("dashboard/refresh/", backoffice.dashboard_refresh, name="dashboard-refresh"),
    path("login/", backoffice.sign_in, name="login"),
    path("logout/", backoffice.sign_out, name="logout"),
    path("admin/", admin.site.urls),
    path("customers/", include("customers.urls")),
    # The invoice page shows what finance applied to the invoice, and invoices may not import finance: finance
    # composes the page (invoices' context and template, plus its own section) and it is mounted here, above
    # both apps, in invoices' namespace (invoices:detail), beside the rest of invoices' pages.
    path("invoices/", include(([path("<int:pk>/", finance_payment_views.invoice_detail, name="detail"),
                                *invoices_urls.urlpatterns], invoices_urls.app_name))),
    path("audit/", include("audit.urls")),
    path("portal/", include("portal.urls")),
    path("stripe/", include("finance.cards.urls")),
    path("api/v1/", api_v1.urls),
    re_path(r"^api/", api_views.api_not_found),  # any other /api/ address: a 404 problem, not a page
    path("settings/api-keys/", include("api.urls")),
    path("bank/", include("banking.urls")),
    path("", include("finance.urls")),
]
