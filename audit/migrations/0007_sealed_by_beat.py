"""Issue 24: events are appended unsealed (no chain head lock in the money transaction) and sealed into their
chains by audit_seal(), which the beat task audit.tasks.seal_audit_trail calls (audit/sql/chain.sql, docs/audit.md).
seq, prev_hash and hash become nullable (NULL while unsealed, all three or none), recorded_at says when a row was
written (the age of an unsealed event), a partial index finds the unsealed ones. Every existing event is sealed
already and keeps its place and hash."""

import django.db.models.functions.datetime
from django.db import migrations, models

from common.sql import load


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_banking_app")]

    operations = [
        migrations.AlterField(
            model_name="auditevent", name="seq",
            field=models.BigIntegerField(blank=True, help_text="Position in its chain, from 1.", null=True)),
        migrations.AlterField(
            model_name="auditevent", name="prev_hash", field=models.CharField(blank=True, max_length=64, null=True)),
        migrations.AlterField(
            model_name="auditevent", name="hash", field=models.CharField(blank=True, max_length=64, null=True)),
        migrations.AddField(
            model_name="auditevent", name="recorded_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(condition=models.Q(("seq__isnull", True)), fields=["id"], name="audit_unsealed_idx")),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(models.Q(("hash__isnull", True), ("prev_hash__isnull", True), ("seq__isnull", True)),
                                   models.Q(("hash__isnull", False), ("prev_hash__isnull", False),
                                            ("seq__isnull", False)), _connector="OR"),
                name="audit_sealed_whole")),
        load("audit", "chain"),
    ]
