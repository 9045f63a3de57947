"""The permissions version also moves with django_content_type: a permission is named "app_label.codename",
and the app label lives on its content type (renamed, say, by an app's rename migration)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_permissions_version"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunSQL(
            """
            CREATE TRIGGER backoffice_permissions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
                ON django_content_type FOR EACH STATEMENT EXECUTE FUNCTION backoffice_permissions_changed();
            """,
            "DROP TRIGGER backoffice_permissions_changed ON django_content_type;",
        ),
    ]
