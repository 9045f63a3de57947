"""Demo data for `bin/run`: idempotent (running it twice changes nothing the second time).

Each app seeds its own part in its `demo.py`, lowest layer first, through the same services the pages use."""

import importlib

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from backoffice.roles import FINANCE, VIEWER, roles_ensure
from finance.auto_top_up import demo as auto_top_up_demo

STAFF = [
    ("admin", "ledgerdesk-admin", None, True),
    ("finance", "ledgerdesk-finance", FINANCE, False),
    ("viewer", "ledgerdesk-viewer", VIEWER, False),
]
APPS = ["customers", "invoices", "finance", "portal", "api", "banking"]
# Demo modules that are not an app's demo.py, seeded after every app's, in this order (same seed(stdout)).
MORE_DEMOS = [auto_top_up_demo]


class Command(BaseCommand):
    help = "Load the demo data (staff logins, customers of every kind, payments and invoices in every state)."

    def handle(self, *args, **options):
        groups = roles_ensure()
        User = get_user_model()
        with transaction.atomic():
            for username, password, role, superuser in STAFF:
                user, created = User.objects.get_or_create(
                    username=username, defaults={"is_staff": True, "is_superuser": superuser,
                                                 "email": f"{username}@ledgerdesk.test"})
                if created:
                    user.set_password(password)
                    user.save()
                if role:
                    user.groups.add(groups[role])
        for app in APPS:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            created = module.seed(stdout=self.stdout)
            self.stdout.write(f"demo {app}: {created}")
        for module in MORE_DEMOS:
            created = module.seed(stdout=self.stdout)
            self.stdout.write(f"demo {module.__name__}: {created}")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
