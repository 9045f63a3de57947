"""The chain head and the database rules that keep the chain whole.

- audit_auditchainhead: one row (id = 1) holding the id and hash of the chain's last event. It anchors the
  tail: deleting the newest events would otherwise leave a shorter chain that still verifies.
- An INSERT into audit_auditevent must extend the chain: id = head.last_id + 1 and prev_hash =
  head.last_hash; the trigger then moves the head. Ids are therefore gapless, and a fork is impossible
  (also refused by the unique constraint on prev_hash).
- The head refuses DELETE, and UPDATE unless it comes from that insert trigger (pg_trigger_depth() > 1).
  TRUNCATE stays possible (owner only), so the test database can be flushed; audit_record re-creates a
  missing head from the last event.
"""

from django.db import migrations, models

GENESIS = "0" * 64


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("last_id", models.BigIntegerField()),
                ("last_hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_idx"),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("prev_hash",), name="audit_prev_hash_unique"),
        ),
        migrations.AddConstraint(
            model_name="auditchainhead",
            constraint=models.CheckConstraint(condition=models.Q(("id", 1)), name="audit_chainhead_singleton"),
        ),
        migrations.RunSQL(
            sql=f"""
            INSERT INTO audit_auditchainhead (id, last_id, last_hash)
            SELECT 1, COALESCE(MAX(id), 0),
                   COALESCE((SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1), '{GENESIS}')
            FROM audit_auditevent;

            CREATE FUNCTION audit_chain_extend() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                head RECORD;
            BEGIN
                SELECT last_id, last_hash INTO head FROM audit_auditchainhead WHERE id = 1 FOR UPDATE;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'audit chain head is missing: append through audit_record'
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF NEW.id IS DISTINCT FROM head.last_id + 1 OR NEW.prev_hash IS DISTINCT FROM head.last_hash THEN
                    RAISE EXCEPTION 'audit event % does not extend the chain (head is event % %)',
                        NEW.id, head.last_id, head.last_hash
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                UPDATE audit_auditchainhead SET last_id = NEW.id, last_hash = NEW.hash WHERE id = 1;
                RETURN NEW;
            END $$;
            CREATE TRIGGER audit_auditevent_chain
                BEFORE INSERT ON audit_auditevent
                FOR EACH ROW EXECUTE FUNCTION audit_chain_extend();

            CREATE FUNCTION audit_chainhead_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'the audit chain head moves only when an event is appended: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$;
            CREATE TRIGGER audit_chainhead_guard
                BEFORE UPDATE OR DELETE ON audit_auditchainhead
                FOR EACH ROW EXECUTE FUNCTION audit_chainhead_guard();
            """,
            reverse_sql="""
            DROP TRIGGER IF EXISTS audit_chainhead_guard ON audit_auditchainhead;
            DROP FUNCTION IF EXISTS audit_chainhead_guard();
            DROP TRIGGER IF EXISTS audit_auditevent_chain ON audit_auditevent;
            DROP FUNCTION IF EXISTS audit_chain_extend();
            """,
        ),
    ]
