"""`manage.py check --deploy`: name every production variable still missing or at its fake value.

Production refuses to start without them (config/environment.py); this check says the same of a
development or test configuration before it is deployed."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def production_settings_check(app_configs=None, **kwargs):
    return [
        Error(f"{name} is not set: the repository's fake value stands in for it.",
              hint="Set it in the environment (see .env.example); production refuses to start without it.",
              id="ledgerdesk.E001", obj=name)
        for name in settings.LEDGERDESK_FAKE_SETTINGS
    ]
