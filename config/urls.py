from django.contrib import admin
from django.urls import include, path, re_path

from api import views as api_views
from api.v1 import api as api_v1
from backoffice import views as backoffice

admin.site.site_header = "Ledgerdesk administration"
admin.site.login = backoffice.sign_in  # one sign-in page, throttled and audited

urlpatterns = [
    path("", backoffice.dashboard, name="dashboard"),
    path("login/", backoffice.sign_in, name="login"),
    path("logout/", backoffice.sign_out, name="logout"),
    path("admin/", admin.site.urls),
    path("customers/", include("customers.urls")),
    path("invoices/", include("invoices.urls")),
    path("audit/", include("audit.urls")),
    path("portal/", include("portal.urls")),
    path("stripe/", include("finance.urls_stripe")),
    path("api/v1/", api_v1.urls),
    re_path(r"^api/", api_views.api_not_found),  # any other /api/ address: a 404 problem, not a page
    path("settings/api-keys/", include("api.urls")),
    path("", include("finance.urls")),
]
