"""The two staff roles as Django groups. `roles_ensure` is idempotent and runs at every `seed_demo` and
`ensure_roles`; new models' permissions join the groups the next time it runs."""

from django.contrib.auth.models import Group, Permission

LEDGER_APPS = ["audit", "customers", "invoices", "finance", "portal", "api", "banking"]
FINANCE = "Finance"
VIEWER = "Viewer"


def roles_ensure() -> dict[str, Group]:
    perms = Permission.objects.filter(content_type__app_label__in=LEDGER_APPS)
    finance, _ = Group.objects.get_or_create(name=FINANCE)
    viewer, _ = Group.objects.get_or_create(name=VIEWER)
    finance.permissions.set(perms)
    viewer.permissions.set(perms.filter(codename__startswith="view_"))
    return {FINANCE: finance, VIEWER: viewer}
