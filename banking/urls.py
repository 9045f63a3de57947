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
    path("reconcile/", views.line_list, name="line-list"),
    path("reconcile/confirm-high/", views.line_confirm_high, name="line-confirm-high"),
    path("reconcile/<int:pk>/", views.line_detail, name="line-detail"),
    path("reconcile/<int:pk>/confirm/", views.line_confirm, name="line-confirm"),
    path("reconcile/<int:pk>/ignore/", views.line_ignore, name="line-ignore"),
    path("reconcile/<int:pk>/undo/", views.line_undo, name="line-undo"),
    path("reconcile/<int:pk>/suggest/", views.line_suggest, name="line-suggest"),
    path("reconcile/<int:pk>/customer/", views.line_choose_customer, name="line-choose-customer"),
    path("reconcile/<int:pk>/preview/", views.line_preview, name="line-preview"),
]
