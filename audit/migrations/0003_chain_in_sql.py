"""The audit chain computed by the database: one implementation of the canonical content and of the hash.

- audit_canonical(audit_auditevent): the canonical text of an event's hashed fields (audit.services.HASHED_FIELDS),
  `jsonb_build_object(...)::text`; occurred_at as 'YYYY-MM-DDTHH:MI:SS.uuuuuuZ' in UTC, the IP as host().
- audit_hash(prev_hash, audit_auditevent): sha256(prev_hash || '|' || canonical) in hex.
- The insert trigger now ASSIGNS the chain: id = head.last_id + 1, prev_hash = head.last_hash, hash computed
  above, and moves the head. An insert that gives its own id, prev_hash or hash must give exactly those values
  (otherwise "does not extend the chain"), so a fork, a gap or a forged hash is still refused. The id column
  loses its identity default (the trigger is the only source of ids). A missing head (the test database's
  TRUNCATE) is re-created from the last event, in the trigger.
- Existing events are verified with the previous (Python) canonical form first, and the migration refuses
  to run on a broken chain (re-hashing it would launder the tampering); then they are re-hashed in id order.
"""

import datetime as dt
import hashlib
import json

from django.db import migrations

GENESIS = "0" * 64
HASHED_FIELDS = (
    "occurred_at", "actor_kind", "actor_label", "actor_user_id", "app", "action", "object_type",
    "object_id", "object_repr", "customer_id", "before", "after", "reason", "request_id", "ip",
    "user_agent",
)


def _old_hash(prev_hash: str, values: dict) -> str:
    """The chain hash as audit.services computed it before this migration (frozen copy)."""
    data = {name: values[name] for name in HASHED_FIELDS}
    data["occurred_at"] = values["occurred_at"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(f"{prev_hash}|{content}".encode()).hexdigest()


def verify_old_chain(apps, schema_editor):
    columns = ("id", "prev_hash", "hash", *HASHED_FIELDS)
    sql = f"SELECT {', '.join(columns[:-2])}, host(ip), user_agent FROM audit_auditevent WHERE id > %s ORDER BY id LIMIT 5000"  # noqa: S608, E501
    last, prev_hash = 0, GENESIS
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [last])
            rows = cursor.fetchall()
            if not rows:
                break
            for row in rows:
                values = dict(zip(columns, row, strict=True))
                for name in ("before", "after"):
                    if isinstance(values[name], str):
                        values[name] = json.loads(values[name])
                if values["prev_hash"] != prev_hash or _old_hash(prev_hash, values) != values["hash"]:
                    raise RuntimeError(
                        f"audit event #{values['id']} does not verify: the chain is broken, so it is not re-hashed "
                        "(run `manage.py verify_audit` on the previous release and investigate first).")
                prev_hash = values["hash"]
            last = rows[-1][0]


SQL = f"""
CREATE FUNCTION audit_canonical(e audit_auditevent) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor_kind', e.actor_kind, 'actor_label', e.actor_label, 'actor_user_id', e.actor_user_id,
        'app', e.app, 'action', e.action, 'object_type', e.object_type, 'object_id', e.object_id,
        'object_repr', e.object_repr, 'customer_id', e.customer_id, 'before', e.before, 'after', e.after,
        'reason', e.reason, 'request_id', e.request_id, 'ip', host(e.ip), 'user_agent', e.user_agent
    )::text
$$;

CREATE FUNCTION audit_hash(prev_hash text, e audit_auditevent) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(prev_hash || '|' || audit_canonical(e), 'UTF8')), 'hex')
$$;

ALTER TABLE audit_auditevent ALTER COLUMN id DROP IDENTITY IF EXISTS;

CREATE OR REPLACE FUNCTION audit_chain_extend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    canonical text := audit_canonical(NEW);  -- computed before the head is locked
    head RECORD;
    new_hash text;
BEGIN
    SELECT last_id, last_hash INTO head FROM audit_auditchainhead WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        -- after a TRUNCATE of the head (the test database's flush): re-create it from the last event
        INSERT INTO audit_auditchainhead (id, last_id, last_hash)
        SELECT 1, COALESCE(MAX(id), 0),
               COALESCE((SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1), '{GENESIS}')
        FROM audit_auditevent
        ON CONFLICT (id) DO NOTHING;
        SELECT last_id, last_hash INTO head FROM audit_auditchainhead WHERE id = 1 FOR UPDATE;
    END IF;
    new_hash := encode(sha256(convert_to(head.last_hash || '|' || canonical, 'UTF8')), 'hex');
    IF (NEW.id IS NOT NULL AND NEW.id <> head.last_id + 1)
       OR (NEW.prev_hash IS NOT NULL AND NEW.prev_hash <> head.last_hash)
       OR (NEW.hash IS NOT NULL AND NEW.hash <> new_hash) THEN
        RAISE EXCEPTION 'audit event % does not extend the chain (head is event % %)',
            NEW.id, head.last_id, head.last_hash
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    NEW.id := head.last_id + 1;
    NEW.prev_hash := head.last_hash;
    NEW.hash := new_hash;
    UPDATE audit_auditchainhead SET last_id = NEW.id, last_hash = NEW.hash WHERE id = 1;
    RETURN NEW;
END $$;
"""

REHASH = f"""
ALTER TABLE audit_auditevent DISABLE TRIGGER USER;
ALTER TABLE audit_auditchainhead DISABLE TRIGGER USER;
DO $$
DECLARE
    r audit_auditevent;
    prev text := '{GENESIS}';
    last bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_auditevent ORDER BY id LOOP
        UPDATE audit_auditevent SET prev_hash = prev, hash = audit_hash(prev, r) WHERE id = r.id
            RETURNING hash INTO prev;
        last := r.id;
    END LOOP;
    UPDATE audit_auditchainhead SET last_id = last, last_hash = prev WHERE id = 1;
END $$;
ALTER TABLE audit_auditevent ENABLE TRIGGER USER;
ALTER TABLE audit_auditchainhead ENABLE TRIGGER USER;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_chain_head"),
    ]

    operations = [
        migrations.RunPython(verify_old_chain, migrations.RunPython.noop),
        migrations.RunSQL(SQL),
        migrations.RunSQL(REHASH),
    ]
