-- The audit trail in the database: append-only, and 64 hash chains the insert trigger extends
-- (docs/audit.md; audit.models.AUDIT_CHAINS = 64 chains, the genesis hash is 64 zeros).

-- Append-only: raw SQL cannot UPDATE or DELETE an event either. (TRUNCATE, an owner-only operation, stays
-- possible so the test database can be flushed.) Also guards customers_masterwalletentry.
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();

-- The canonical text of an event's hashed fields (audit.services.HASHED_FIELDS): occurred_at in UTC as
-- 'YYYY-MM-DDTHH:MI:SS.uuuuuuZ', the IP as host().
CREATE OR REPLACE FUNCTION audit_canonical(e audit_auditevent) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor_kind', e.actor_kind, 'actor_label', e.actor_label, 'actor_user_id', e.actor_user_id,
        'app', e.app, 'action', e.action, 'object_type', e.object_type, 'object_id', e.object_id,
        'object_repr', e.object_repr, 'customer_id', e.customer_id, 'before', e.before, 'after', e.after,
        'reason', e.reason, 'request_id', e.request_id, 'ip', host(e.ip), 'user_agent', e.user_agent
    )::text
$$;

-- sha256(prev_hash || '|' || canonical) in hex.
CREATE OR REPLACE FUNCTION audit_hash(prev_hash text, e audit_auditevent) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(prev_hash || '|' || audit_canonical(e), 'UTF8')), 'hex')
$$;

-- An event joins chain (customer id % 64; 0 for an event about no customer): the trigger locks only that
-- chain's head, assigns chain, seq (gapless, from 1), prev_hash and hash, moves the head, and refuses given
-- values that differ (a fork is refused by the unique (chain, seq) too).
CREATE OR REPLACE FUNCTION audit_chain_extend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    canonical text := audit_canonical(NEW);  -- computed before the head is locked
    chain_no smallint := COALESCE(((NEW.customer_id % 64) + 64) % 64, 0);
    head RECORD;
    new_hash text;
BEGIN
    -- FOR NO KEY UPDATE: the head's key (its chain number) never changes
    SELECT last_seq, last_hash INTO head FROM audit_auditchainhead WHERE id = chain_no FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        -- after a TRUNCATE of the heads (the test database's flush): re-create this one from its last event
        INSERT INTO audit_auditchainhead (id, last_seq, last_id, last_hash)
        SELECT chain_no, COALESCE(l.seq, 0), COALESCE(l.id, 0),
               COALESCE(l.hash, '0000000000000000000000000000000000000000000000000000000000000000')
        FROM (SELECT 1) one LEFT JOIN LATERAL (
            SELECT seq, id, hash FROM audit_auditevent WHERE chain = chain_no ORDER BY seq DESC LIMIT 1
        ) l ON true
        ON CONFLICT (id) DO NOTHING;
        SELECT last_seq, last_hash INTO head FROM audit_auditchainhead WHERE id = chain_no FOR NO KEY UPDATE;
    END IF;
    new_hash := encode(sha256(convert_to(head.last_hash || '|' || canonical, 'UTF8')), 'hex');
    IF (NEW.chain IS NOT NULL AND NEW.chain <> chain_no)
       OR (NEW.seq IS NOT NULL AND NEW.seq <> head.last_seq + 1)
       OR (NEW.prev_hash IS NOT NULL AND NEW.prev_hash <> head.last_hash)
       OR (NEW.hash IS NOT NULL AND NEW.hash <> new_hash) THEN
        RAISE EXCEPTION 'audit event % does not extend chain % (its head is #% %)',
            NEW.id, chain_no, head.last_seq, head.last_hash
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    NEW.chain := chain_no;
    NEW.seq := head.last_seq + 1;
    NEW.prev_hash := head.last_hash;
    NEW.hash := new_hash;
    UPDATE audit_auditchainhead SET last_seq = NEW.seq, last_id = NEW.id, last_hash = NEW.hash WHERE id = chain_no;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER audit_auditevent_chain
    BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_chain_extend();

-- The heads refuse DELETE, and UPDATE unless it comes from the insert trigger above (pg_trigger_depth() > 1).
CREATE OR REPLACE FUNCTION audit_chainhead_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head moves only when an event is appended: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER audit_chainhead_guard
    BEFORE UPDATE OR DELETE ON audit_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION audit_chainhead_guard();
