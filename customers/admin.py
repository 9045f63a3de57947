"""Customers in Django admin: every field read only (money is never edited in place, and a save() here
would skip the services' locks and audit). What admin can do goes through the services, as actions."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from common.admin import ServiceOnlyAdmin, service_action

from .models import (
    Customer,
    CustomerUser,
    MasterWallet,
    MasterWalletEntry,
    Notification,
    Reservation,
    ReservationStatus,
    Subscription,
    Transaction,
)
from .services import (
    CustomerError,
    ReservationError,
    SubscriptionError,
    reservation_expire,
    reservation_release,
    subscription_update,
)


class CustomerServiceAdmin(ServiceOnlyAdmin):
    service_errors = (CustomerError, ReservationError, SubscriptionError)


@admin.register(Customer)
class CustomerAdmin(CustomerServiceAdmin):
    list_display = ("code", "name", "account_type", "invoice_setup", "currency", "credit_limit", "amount_unbilled",
                    "amount_due", "amount_reserved", "show_invoices_tab")
    list_filter = ("account_type", "invoice_setup", "currency", "show_invoices_tab")
    search_fields = ("code", "name", "billing_email")
    readonly_fields = ("back_office",)

    @admin.display(description="Back office")
    def back_office(self, obj):
        return format_html('<a href="{}">Open the customer page (settings are changed there)</a>',
                           reverse("customers:detail", args=[obj.pk]))


@admin.register(Transaction)
class TransactionAdmin(CustomerServiceAdmin):
    list_display = ("id", "occurred_at", "customer", "kind", "bucket", "amount", "billed_document", "reference")
    list_filter = ("kind", "bucket", ("billed_at", admin.EmptyFieldListFilter))
    search_fields = ("=id", "reference", "description", "idempotency_key", "billed_document", "customer__code",
                     "customer__name")
    list_select_related = ("customer",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(Reservation)
class ReservationAdmin(CustomerServiceAdmin):
    list_display = ("id", "created_at", "customer", "kind", "amount", "status", "expires_at", "committed_amount",
                    "reference")
    list_filter = ("status", "kind")
    search_fields = ("=id", "reference", "idempotency_key", "customer__code", "customer__name")
    list_select_related = ("customer",)
    actions = ["release_reservations", "expire_overdue_reservations"]

    @admin.action(description="Release selected open reservations", permissions=["service"])
    def release_reservations(self, request, queryset):
        now = timezone.now()
        self.run_service(request, queryset.filter(status=ReservationStatus.OPEN), lambda r, actor: reservation_release(
            reservation_id=r.pk, actor=actor, at=now, reason="Released from Django admin"), "reservation(s) released")

    @admin.action(description="Expire selected reservations past their timeout", permissions=["service"])
    def expire_overdue_reservations(self, request, queryset):
        now = timezone.now()
        due = queryset.filter(status=ReservationStatus.OPEN, expires_at__lte=now)
        self.run_service(request, due, lambda r, actor: reservation_expire(reservation_id=r.pk, actor=actor, now=now),
                         "reservation(s) expired")


@admin.register(MasterWallet)
class MasterWalletAdmin(CustomerServiceAdmin):
    list_display = ("name", "currency", "balance")


@admin.register(MasterWalletEntry)
class MasterWalletEntryAdmin(CustomerServiceAdmin):
    list_display = ("id", "created_at", "wallet", "amount", "customer", "transaction", "reference")
    list_filter = ("wallet",)
    search_fields = ("=id", "reference", "customer__code")
    list_select_related = ("wallet", "customer", "transaction")


@admin.register(Subscription)
class SubscriptionAdmin(CustomerServiceAdmin):
    list_display = ("id", "customer", "product", "kind", "quantity", "renewal_date", "renewal_price", "renewal_cost",
                    "margin_shown", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("product", "customer__code", "customer__name")
    list_select_related = ("customer",)
    actions = [service_action("end_subscriptions", "End selected subscriptions (no further renewals)",
                              lambda s, actor: subscription_update(subscription_id=s.pk, is_active=False, actor=actor),
                              "subscription(s) ended", is_active=True)]

    @admin.display(description="Margin")
    def margin_shown(self, obj):
        return format_html('<span class="{}">{}</span>', "negative" if obj.margin < 0 else "", obj.margin)


@admin.register(Notification)
class NotificationAdmin(CustomerServiceAdmin):
    list_display = ("id", "sent_at", "customer", "kind", "channel", "recipient", "subject", "status")
    list_filter = ("kind", "channel", "status")
    search_fields = ("recipient", "subject", "customer__code", "customer__name")
    list_select_related = ("customer",)


@admin.register(CustomerUser)
class CustomerUserAdmin(CustomerServiceAdmin):
    list_display = ("user", "customer")
    search_fields = ("user__username", "customer__code", "customer__name")
    list_select_related = ("user", "customer")
