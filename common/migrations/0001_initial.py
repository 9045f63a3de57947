"""IdempotencyRecord moves from the api app (api.0001_initial made the table) to common: the table is renamed,
its rows, index and constraint kept; api.0002 drops the model from api's state."""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL("ALTER TABLE api_idempotencyrecord RENAME TO common_idempotencyrecord",
                                  reverse_sql="ALTER TABLE common_idempotencyrecord RENAME TO api_idempotencyrecord"),
            ],
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("client", models.CharField(max_length=80)),
                        ("key", models.CharField(max_length=255)),
                        ("request_hash", models.CharField(max_length=64)),
                        ("status", models.PositiveSmallIntegerField(null=True)),
                        ("response", models.TextField(null=True)),
                        ("created_at", models.DateTimeField()),
                    ],
                    options={
                        "indexes": [models.Index(fields=["created_at"], name="idempotency_created_idx")],
                        "constraints": [models.UniqueConstraint(fields=("client", "key"),
                                                                name="idempotency_client_key_unique")],
                    },
                ),
            ],
        ),
    ]
