from django.urls import path

from . import views, views_cards, views_invoices_pay

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.sign_in, name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("password-reset/", views.password_reset, name="password-reset"),
    path("password-reset/sent/", views.password_reset_done, name="password-reset-done"),
    path("reset/<uidb64>/<token>/", views.password_reset_confirm, name="password-reset-confirm"),
    path("reset/done/", views.password_reset_complete, name="password-reset-complete"),
    path("invoices/", views.invoice_list, name="invoice-list"),
    path("invoices/pay/", views_invoices_pay.invoices_pay, name="invoices-pay"),
    path("invoices/pay/credits/", views_invoices_pay.invoices_pay_with_credits, name="invoices-pay-credits"),
    path("invoices/pay/card/", views_invoices_pay.invoices_pay_by_card, name="invoices-pay-card"),
    path("invoices/<int:invoice_id>/pdf/", views.invoice_pdf, name="invoice-pdf"),
    path("invoices/<int:invoice_id>/pay/", views.invoice_pay, name="invoice-pay"),
    path("invoices/<int:invoice_id>/pay/card/", views.invoice_pay_by_card, name="invoice-pay-card"),
    path("top-up/", views.top_up, name="top-up"),
    path("card/success/", views.card_success, name="card-success"),
    path("card/cancelled/", views.card_cancelled, name="card-cancelled"),
    path("card/", views_cards.card_settings, name="card-settings"),
    path("card/amounts/", views_cards.card_settings_amounts, name="card-settings-amounts"),
    path("card/auto-top-up/", views_cards.card_settings_switch, name="card-settings-switch"),
    path("card/remove/", views_cards.card_remove, name="card-remove"),
    path("payments/", views_cards.payments, name="payments"),
    path("payments/<int:card_payment_id>/receipt/", views_cards.payment_receipt, name="payment-receipt"),
    path("transactions/", views.transactions, name="transactions"),
    path("notifications/", views.notifications, name="notifications"),
    path("audit/", views.audit_trail, name="audit"),
]
