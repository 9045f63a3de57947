"""`manage.py api_key_create NAME [--scopes usage:write,customers:read]`: a new API key for the client NAME,
printed once (only its hash is kept)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.models import ALL_SCOPES
from api.services import ApiKeyError, api_key_create
from audit.actors import Actor


class Command(BaseCommand):
    help = "Create an API key for a client (e.g. telephony-platform) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The API client, e.g. telephony-platform.")
        parser.add_argument("--scopes", default=",".join(ALL_SCOPES),
                            help=f"Comma-separated, from: {', '.join(ALL_SCOPES)} (default: all).")

    def handle(self, *args, name, scopes, **options):
        try:
            key, plain = api_key_create(name=name, scopes=scopes.split(","), actor=Actor.system("api_key_create"),
                                        at=timezone.now())
        except ApiKeyError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"API key for {key.name} (scopes: {', '.join(key.scopes)}). Shown once, store it now:")
        self.stdout.write(plain)
