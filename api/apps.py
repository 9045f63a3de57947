from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API (the telephony platform)"
    default_auto_field = "django.db.models.BigAutoField"
