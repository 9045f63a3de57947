from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the production-settings check (system checks register on import); nothing else here.
        from . import checks  # noqa: F401
