from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_new, name="create"),
    path("options/", views.customer_options, name="options"),
    path("master-wallets/", views.wallet_list, name="wallets"),
    path("master-wallets/new/", views.wallet_new, name="wallet-create"),
    path("master-wallets/<int:wallet_pk>/", views.wallet_detail, name="wallet"),
    path("master-wallets/<int:wallet_pk>/fund/", views.wallet_fund, name="wallet-fund"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/transactions/", views.customer_transactions, name="transactions"),
    path("<int:pk>/transactions/adjust/", views.adjustment_new, name="adjust"),
    path("<int:pk>/reservations/", views.customer_reservations, name="reservations"),
    path("<int:pk>/reservations/<int:reservation_pk>/release/", views.reservation_release_view,
         name="reservation-release"),
    path("<int:pk>/subscriptions/", views.customer_subscriptions, name="subscriptions"),
    path("<int:pk>/subscriptions/new/", views.subscription_new, name="subscription-create"),
    path("<int:pk>/subscriptions/<int:subscription_pk>/edit/", views.subscription_edit, name="subscription-edit"),
    path("<int:pk>/notifications/", views.customer_notifications, name="notifications"),
    path("<int:pk>/audit/", views.customer_audit, name="audit"),
    path("<int:pk>/transfer/", views.transfer_new, name="transfer"),
    path("<int:pk>/portal-logins/new/", views.portal_user_new, name="portal-user-create"),
]
