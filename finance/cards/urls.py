"""Stripe's callbacks, under /stripe/ (config/urls.py)."""

from django.urls import path

from . import webhooks

app_name = "stripe"

urlpatterns = [
    path("webhook/", webhooks.stripe_webhook, name="webhook"),
]
