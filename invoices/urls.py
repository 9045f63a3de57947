from django.urls import path

from . import views

app_name = "invoices"

urlpatterns = [
    path("", views.invoice_list, name="list"),
    path("new/", views.create, name="create"),
    path("new/top-up/", views.create_top_up, name="create-top-up"),
    path("new/purchase/", views.create_purchase, name="create-purchase"),
    # "<int:pk>/" (invoices:detail), the invoice page, is finance's composition mounted by config/urls.py:
    # it shows the payments, allocations, credit notes and card payments of the invoice, which are finance's.
    path("<int:pk>/send/", views.send, name="send"),
    path("<int:pk>/mark-sent/", views.mark_sent, name="mark-sent"),
    path("<int:pk>/void/", views.void, name="void"),
    path("<int:pk>/pdf/", views.pdf, name="pdf"),
    path("billing-runs/", views.billing_runs, name="billing-runs"),
    path("billing-runs/<int:pk>/", views.billing_run_detail, name="billing-run"),
]
