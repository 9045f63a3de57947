from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("occurred_at", models.DateTimeField(db_index=True)),
                ("actor_kind", models.CharField(choices=[("staff", "Staff"), ("customer", "Portal customer"), ("system", "System job"), ("stripe", "Stripe"), ("api", "API client"), ("anonymous", "Anonymous")], max_length=16)),
                ("actor_label", models.CharField(max_length=150)),
                ("actor_user_id", models.BigIntegerField(blank=True, null=True)),
                ("app", models.CharField(choices=[("customers", "Customers"), ("invoices", "Invoices"), ("finance", "Finance"), ("portal", "Portal"), ("settings", "Settings"), ("access", "Access")], max_length=16)),
                ("action", models.CharField(db_index=True, max_length=80)),
                ("object_type", models.CharField(blank=True, max_length=60)),
                ("object_id", models.CharField(blank=True, max_length=64)),
                ("object_repr", models.CharField(blank=True, max_length=200)),
                ("customer_id", models.BigIntegerField(blank=True, null=True)),
                ("before", models.JSONField(blank=True, default=dict)),
                ("after", models.JSONField(blank=True, default=dict)),
                ("reason", models.TextField(blank=True)),
                ("request_id", models.CharField(blank=True, max_length=64)),
                ("ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=400)),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64, unique=True)),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [
                    models.Index(fields=["customer_id", "-id"], name="audit_customer_idx"),
                    models.Index(fields=["app", "-id"], name="audit_app_idx"),
                    models.Index(fields=["actor_label", "-id"], name="audit_actor_idx"),
                ],
            },
        ),
        # Append-only in the database itself: raw SQL cannot UPDATE or DELETE a row either. (TRUNCATE, an
        # owner-only operation, stays possible so the test database can be flushed between tests.)
        migrations.RunSQL(
            sql="""
            CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END $$;
            CREATE TRIGGER audit_auditevent_append_only
                BEFORE UPDATE OR DELETE ON audit_auditevent
                FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
            """,
            reverse_sql="""
            DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
            DROP FUNCTION IF EXISTS audit_refuse_change();
            """,
        ),
    ]
