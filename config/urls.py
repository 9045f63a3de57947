from django.contrib import admin
from django.urls import include, path

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
    path("", include("finance.urls")),
]
