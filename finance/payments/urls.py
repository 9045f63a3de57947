"""Payments, allocations, top-ups, credit notes and withdrawals (joined into the "finance" namespace by
finance/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    # Payments
    path("payments/", views.payment_list, name="payment-list"),
    path("payments/new/", views.payment_create, name="payment-create"),
    path("payments/<int:pk>/", views.payment_detail, name="payment-detail"),
    path("payments/<int:pk>/edit/", views.payment_edit, name="payment-edit"),
    path("payments/<int:pk>/delete/", views.payment_remove, name="payment-delete"),
    path("payments/<int:pk>/assign/", views.payment_assign_view, name="payment-assign"),
    path("payments/<int:pk>/unassign/", views.payment_unassign_view, name="payment-unassign"),
    path("payments/<int:pk>/allocate/", views.payment_allocate_view, name="payment-allocate"),
    path("payments/<int:pk>/allocate/preview/", views.payment_allocate_preview, name="payment-allocate-preview"),
    path("payments/<int:pk>/top-up/", views.payment_top_up_view, name="payment-top-up"),
    path("payments/for-invoice/<int:pk>/", views.invoice_payment, name="invoice-payment"),
    path("allocations/<int:pk>/reverse/", views.allocation_reverse_view, name="allocation-reverse"),
    path("top-ups/<int:pk>/remove/", views.top_up_remove_view, name="top-up-remove"),
    # Credit notes
    path("credit-notes/", views.credit_note_list, name="credit-note-list"),
    path("credit-notes/new/", views.credit_note_create, name="credit-note-create"),
    path("credit-notes/<int:pk>/", views.credit_note_detail, name="credit-note-detail"),
    path("credit-notes/<int:pk>/pdf/", views.credit_note_pdf, name="credit-note-pdf"),
    # Withdrawals
    path("withdrawals/", views.withdrawal_list, name="withdrawal-list"),
    path("withdrawals/new/", views.withdrawal_create, name="withdrawal-create"),
    path("withdrawals/<int:pk>/", views.withdrawal_detail, name="withdrawal-detail"),
]
