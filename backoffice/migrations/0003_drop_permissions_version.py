"""Staff permissions are read by Django's ModelBackend again (issue 20): the permissions version that
backoffice.auth.CachedPermissionsBackend read, and the triggers on Django's auth_* and django_content_type tables
that kept it, go. Reversing this migration puts them back as 0001 and 0002 made them."""

from importlib import import_module

from django.db import migrations

_first = import_module("backoffice.migrations.0001_permissions_version")
TABLES = (*_first.TABLES, "django_content_type")

DROP = "".join(f"DROP TRIGGER backoffice_permissions_changed ON {table};\n" for table in TABLES) + """
DROP FUNCTION backoffice_permissions_changed();
DROP TABLE backoffice_permissionsversion;
"""
RECREATE = _first.SQL + """
CREATE TRIGGER backoffice_permissions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON django_content_type FOR EACH STATEMENT EXECUTE FUNCTION backoffice_permissions_changed();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_permissions_version_content_types"),
    ]

    operations = [migrations.RunSQL(DROP, reverse_sql=RECREATE)]
