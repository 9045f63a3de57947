-- The audit trail in the database: append-only events, appended unsealed by the insert trigger and sealed into
-- 64 hash chains by audit_seal() (docs/audit.md; audit.models.AUDIT_CHAINS = 64 chains, the genesis hash is 64
-- zeros).

-- Append-only tables refuse UPDATE and DELETE, raw SQL included (TRUNCATE, an owner-only operation, stays possible
-- so the test database can be flushed): customers_masterwalletentry with this function; audit_auditevent with
-- audit_event_guard below, which also lets an unsealed event be sealed once.
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;


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

-- An event is appended unsealed (issue 24): the insert trigger only puts it in its chain (customer id % 64; 0 for
-- an event about no customer) and stamps recorded_at; it takes no lock, so audited changes never wait for one
-- another on a chain head. seq, prev_hash and hash stay NULL until audit_seal() (below; the beat task
-- audit.tasks.seal_audit_trail) gives the event its place in its chain. Given values are refused.
CREATE OR REPLACE FUNCTION audit_chain_extend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chain_no smallint := COALESCE(((NEW.customer_id % 64) + 64) % 64, 0);
BEGIN
    IF (NEW.chain IS NOT NULL AND NEW.chain <> chain_no)
       OR NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
        RAISE EXCEPTION 'audit event % is appended unsealed to chain %: its seq, prev_hash and hash are given by audit_seal()',
            NEW.id, chain_no
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    NEW.chain := chain_no;
    NEW.recorded_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER audit_auditevent_chain
    BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_chain_extend();

-- Append-only, with one exception: an unsealed event is sealed once. An UPDATE is accepted only when the row
-- was unsealed, nothing but seq, prev_hash and hash changes, and those link it to its chain: prev_hash is the
-- hash of the chain's event seq - 1 (the genesis hash for seq 1; with the unique (chain, seq), a chain stays
-- gapless and unforked) and hash = sha256(prev_hash | canonical content). Every other UPDATE, and every
-- DELETE, is refused.
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.seq IS NOT NULL OR NEW.seq IS NULL
       OR (OLD.id, OLD.occurred_at, OLD.actor_kind, OLD.actor_label, OLD.actor_user_id, OLD.app, OLD.action,
           OLD.object_type, OLD.object_id, OLD.object_repr, OLD.customer_id, OLD.before, OLD.after, OLD.reason,
           OLD.request_id, OLD.ip, OLD.user_agent, OLD.chain, OLD.recorded_at)
          IS DISTINCT FROM
          (NEW.id, NEW.occurred_at, NEW.actor_kind, NEW.actor_label, NEW.actor_user_id, NEW.app, NEW.action,
           NEW.object_type, NEW.object_id, NEW.object_repr, NEW.customer_id, NEW.before, NEW.after, NEW.reason,
           NEW.request_id, NEW.ip, NEW.user_agent, NEW.chain, NEW.recorded_at) THEN
        RAISE EXCEPTION 'audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.seq < 1
       OR NEW.prev_hash IS DISTINCT FROM (
           CASE WHEN NEW.seq = 1 THEN '0000000000000000000000000000000000000000000000000000000000000000'
                ELSE (SELECT e.hash FROM audit_auditevent e WHERE e.chain = NEW.chain AND e.seq = NEW.seq - 1) END)
       OR NEW.hash IS DISTINCT FROM audit_hash(NEW.prev_hash, NEW) THEN
        RAISE EXCEPTION 'audit event % is not sealed as #% of chain %: it does not link to the event before it',
            NEW.id, NEW.seq, NEW.chain
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE OR REPLACE TRIGGER audit_auditevent_guard
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard();

-- Seal up to p_limit committed, unsealed events into their chains, in id order, and return the heads that
-- moved (with how many events each took). One sealer at a time (a transaction-level advisory lock); each
-- statement here reads a fresh snapshot (READ COMMITTED), so after the lock it sees what the previous sealer
-- committed. Only committed events are visible to it: an event whose transaction is still open, or that
-- commits after a later id, is sealed by a later call, in the order the calls see them. Nothing assumes ids
-- commit in order (no "everything below id N is sealed" watermark): an event is unsealed exactly while its
-- seq is NULL, and the partial index audit_unsealed_idx finds those. The heads are read once and written once
-- per chain at the end (a head row updated per event would leave a version per event to walk through).
CREATE OR REPLACE FUNCTION audit_seal(p_limit integer)
RETURNS TABLE (chain smallint, last_seq bigint, last_id bigint, last_hash text, sealed bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r audit_auditevent;
    seqs bigint[];
    hashes text[];
    last_ids bigint[];
    counts bigint[] := array_fill(0::bigint, ARRAY[64]);
    c integer;
    h text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_seal'));
    -- every chain has a head (after a TRUNCATE of the heads, the test database's flush: from its last sealed event)
    INSERT INTO audit_auditchainhead (id, last_seq, last_id, last_hash)
    SELECT g, COALESCE(l.seq, 0), COALESCE(l.id, 0),
           COALESCE(l.hash, '0000000000000000000000000000000000000000000000000000000000000000')
    FROM generate_series(0, 63) g LEFT JOIN LATERAL (
        SELECT e.seq, e.id, e.hash FROM audit_auditevent e WHERE e.chain = g AND e.seq IS NOT NULL
        ORDER BY e.seq DESC LIMIT 1
    ) l ON true
    WHERE NOT EXISTS (SELECT 1 FROM audit_auditchainhead h WHERE h.id = g)
    ON CONFLICT (id) DO NOTHING;
    SELECT array_agg(h.last_seq ORDER BY h.id), array_agg(h.last_hash::text ORDER BY h.id),
           array_agg(h.last_id ORDER BY h.id)
      INTO seqs, hashes, last_ids
      FROM audit_auditchainhead h;
    FOR r IN SELECT * FROM audit_auditevent e WHERE e.seq IS NULL ORDER BY e.id LIMIT p_limit LOOP
        c := r.chain + 1;
        h := audit_hash(hashes[c], r);
        UPDATE audit_auditevent e SET seq = seqs[c] + 1, prev_hash = hashes[c], hash = h WHERE e.id = r.id;
        seqs[c] := seqs[c] + 1;
        hashes[c] := h;
        last_ids[c] := r.id;
        counts[c] := counts[c] + 1;
    END LOOP;
    FOR c IN 1..64 LOOP
        IF counts[c] > 0 THEN
            UPDATE audit_auditchainhead h SET last_seq = seqs[c], last_id = last_ids[c], last_hash = hashes[c]
             WHERE h.id = c - 1;
            chain := c - 1;
            last_seq := seqs[c];
            last_id := last_ids[c];
            last_hash := hashes[c];
            sealed := counts[c];
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;

-- The heads refuse DELETE, and an UPDATE unless it moves the head forward to a sealed event of its chain (the
-- sealer moves it to the chain's newest; verify_audit checks that every chain ends at its head).
CREATE OR REPLACE FUNCTION audit_chainhead_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.last_seq >= OLD.last_seq AND EXISTS (
        SELECT 1 FROM audit_auditevent e
         WHERE e.chain = NEW.id AND e.seq = NEW.last_seq AND e.id = NEW.last_id AND e.hash = NEW.last_hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head moves only forward, to a sealed event of its chain: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER audit_chainhead_guard
    BEFORE UPDATE OR DELETE ON audit_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION audit_chainhead_guard();
