from django.core.management.base import BaseCommand

from backoffice.roles import roles_ensure


class Command(BaseCommand):
    help = "Create or refresh the Finance and Viewer staff groups and their permissions."

    def handle(self, *args, **options):
        groups = roles_ensure()
        for name, group in groups.items():
            self.stdout.write(f"{name}: {group.permissions.count()} permissions")
