"""Card payments and Stripe events in Django admin (imported by finance/admin.py): read only, because money
is never edited in place and Stripe's events are facts. The one action asks Stripe again about pending
card payments and applies the answer through the card services (credited once, or the failure recorded),
for a payment whose webhook never arrived."""

from django.contrib import admin, messages

from audit.actors import Actor
from common.admin import ReadOnlyAdmin, ServiceOnlyAdmin

from ..models import CardPayment, CardPaymentInvoice, CardPaymentStatus, StripeEvent
from ..services._common import FinanceError
from ..services.cards import card_payment_fulfil
from . import gateway


@admin.register(CardPayment)
class CardPaymentAdmin(ServiceOnlyAdmin):
    list_display = ("id", "created_at", "customer", "purpose", "channel", "amount_charged", "currency", "status",
                    "card_brand", "card_last4", "credited_at", "invoice")
    list_filter = ("status", "purpose", "channel", "currency", "created_at")
    search_fields = ("=id", "checkout_session_id", "payment_intent_id", "idempotency_key", "customer__name",
                     "customer__code")
    list_select_related = ("customer", "invoice")
    date_hierarchy = "created_at"
    actions = ["confirm_with_stripe"]

    @admin.action(description="Ask Stripe again about the selected pending or failed payments", permissions=["service"])
    def confirm_with_stripe(self, request, queryset):
        actor = Actor.from_request(request)
        done = 0
        for payment in queryset.filter(status__in=[CardPaymentStatus.PENDING, CardPaymentStatus.FAILED,
                                                   CardPaymentStatus.CANCELLED]).order_by("pk"):
            try:
                if payment.checkout_session_id:
                    card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=actor)
                elif payment.payment_intent_id:
                    card_payment_fulfil(payment_intent_id=payment.payment_intent_id, actor=actor)
                else:
                    self.message_user(request, f"{payment}: Stripe has no payment for it yet.", messages.WARNING)
                    continue
                done += 1
            except (FinanceError, gateway.GatewayError) as exc:
                self.message_user(request, f"{payment}: {exc}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done} card payment(s) checked with Stripe.", level=messages.SUCCESS)


@admin.register(CardPaymentInvoice)
class CardPaymentInvoiceAdmin(ReadOnlyAdmin):
    list_display = ("id", "card_payment", "invoice", "amount", "open", "outcome", "amount_paid")
    list_filter = ("open", "outcome")
    search_fields = ("=card_payment__id", "invoice__number", "card_payment__customer__code")
    list_select_related = ("card_payment", "invoice")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "object_id", "status", "received_at", "processed_at", "result")
    list_filter = ("status", "type", "received_at")
    search_fields = ("event_id", "object_id")
    date_hierarchy = "received_at"
