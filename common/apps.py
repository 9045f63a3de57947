from django.apps import AppConfig


class CommonConfig(AppConfig):
    """App-agnostic pieces every app may use: the idempotency records (the API's Idempotency-Key and the pages'
    one-time form tokens), template filters and tags, list helpers. It imports none of our apps."""

    name = "common"
    default_auto_field = "django.db.models.BigAutoField"
