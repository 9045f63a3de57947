from django.urls import path

from . import views

app_name = "banking"

urlpatterns = [
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/new/", views.account_create, name="account-create"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account-edit"),
    path("statements/", views.statement_list, name="statement-list"),
    path("statements/upload/", views.statement_upload, name="statement-upload"),
    path("statements/<int:pk>/", views.statement_detail, name="statement-detail"),
    path("imports/<int:pk>/", views.import_progress, name="import-progress"),
]
