"""IdempotencyRecord now lives in the common app (common.0001 renamed the table): only api's state forgets it."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0001_initial"),
        ("common", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="IdempotencyRecord")],
        ),
    ]
