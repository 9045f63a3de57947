-- Reserve, commit, release and expire a reservation: one statement per operation (customers.services.reservations).
--
-- Each function locks the customer row (then the reservation), checks the rule, writes the reservation, the
-- ledger entry and the running totals, and the operation's one audit event (its INSERT goes through the audit
-- insert trigger, audit/sql/chain.sql, which appends it unsealed and takes no lock; the beat task seals it). It
-- returns an outcome code ('ok', or why it refused, having written nothing); customers.services.reservations
-- maps each code to its ReservationError message and builds the Reservation from the returned row. Called
-- outside a transaction the statement is its own transaction (autocommit); inside one it is part of the caller's.
--
-- Idempotency keys: INSERT ... ON CONFLICT DO NOTHING (no EXCEPTION block: no subtransaction).
-- Usable credits are the customer's generated column (Customer.usable_credits), read as c.usable_credits.
-- OUT usable: the customer's usable credits after the operation (the API's reply states them without reading
-- the customer again: one round trip fewer per request, bench/api_posting.py); when reserve refuses with
-- 'not_enough', the usable credits it found.
-- The hot path parses no SQL per call (tests/customers/test_reservations.py, TestHotPathPlans): customers_figures
-- is a STABLE SQL function that PostgreSQL inlines, and the other functions are PL/pgSQL, whose statements keep
-- their plans for the session.

CREATE OR REPLACE FUNCTION customers_figures(c customers_customer) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    -- the customer's figures in an audit event's before / after: the same as customers.services._common.figures
    SELECT jsonb_build_object(
        'expecting_invoice', c.amount_unbilled::text, 'amount_due', c.amount_due::text,
        'reserved_credits', c.amount_reserved::text, 'usable_credits', c.usable_credits::text)
$$;

CREATE OR REPLACE FUNCTION customers_reservation_audit(
    r customers_reservation, p_action text, p_before jsonb, p_after jsonb, p_reason text, p_at timestamptz,
    a_kind text, a_label text, a_user_id bigint, a_request_id text, a_ip inet, a_user_agent text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- the operation's one audit event; the chain trigger assigns chain, seq, prev_hash and hash
    INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_label, actor_user_id, app, action,
                                  object_type, object_id, object_repr, customer_id, before, after, reason,
                                  request_id, ip, user_agent)
    VALUES (p_at, a_kind, a_label, a_user_id, 'customers', p_action, 'customers.reservation', r.id::text,
            left(format('Reservation %s %s (%s)', r.id, r.amount, r.status), 200), r.customer_id,
            p_before, p_after, p_reason, a_request_id, a_ip, a_user_agent);
END $$;

CREATE OR REPLACE FUNCTION customers_reservation_reserve(
    p_customer_id bigint, p_kind text, p_amount numeric, p_reference text, p_key text,
    p_at timestamptz, p_expires_at timestamptz,
    a_kind text, a_label text, a_user_id bigint, a_request_id text, a_ip inet, a_user_agent text,
    OUT outcome text, OUT currency text, OUT usable numeric, OUT reservation customers_reservation
) LANGUAGE plpgsql AS $$
DECLARE
    c customers_customer;
    before jsonb;
    after jsonb;
BEGIN
    -- FOR NO KEY UPDATE: the customer's key never changes here, so inserts that reference it do not wait
    SELECT * INTO c FROM customers_customer WHERE id = p_customer_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        outcome := 'no_customer';
        RETURN;
    END IF;
    currency := c.currency;
    IF p_key IS NOT NULL THEN
        SELECT * INTO reservation FROM customers_reservation WHERE idempotency_key = p_key;
        IF FOUND THEN
            -- a retry returns the reservation it made; another reservation's key is refused
            outcome := CASE WHEN reservation.customer_id = c.id AND reservation.amount = p_amount
                                 AND reservation.kind = p_kind THEN 'existing' ELSE 'key_used' END;
            usable := c.usable_credits;
            RETURN;
        END IF;
    END IF;
    usable := c.usable_credits;
    IF p_amount > usable THEN
        outcome := 'not_enough';
        RETURN;
    END IF;
    before := customers_figures(c);
    INSERT INTO customers_reservation (customer_id, kind, amount, status, reference, idempotency_key,
                                       created_at, expires_at)
    VALUES (c.id, p_kind, p_amount, 'open', p_reference, p_key, p_at, p_expires_at)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING * INTO reservation;
    IF NOT FOUND THEN  -- the same key committed meanwhile by another customer's reservation
        outcome := 'key_used';
        RETURN;
    END IF;
    UPDATE customers_customer SET amount_reserved = amount_reserved + p_amount WHERE id = c.id
    RETURNING * INTO c;
    usable := c.usable_credits;
    -- computed apart: inside PERFORM's arguments customers_figures was not inlined (parsed on every call)
    after := customers_figures(c) || jsonb_build_object(
        'amount', p_amount::text,
        'expires_at', to_char(p_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'));
    PERFORM customers_reservation_audit(
        reservation, 'customers.reservation.reserve', before, after,
        '', p_at, a_kind, a_label, a_user_id, a_request_id, a_ip, a_user_agent);
    outcome := 'ok';
END $$;

-- (Dropped first: its OUT usable came later than the function, and CREATE OR REPLACE cannot change a result
-- type. Nothing depends on the function: a caller finds it by name when it runs.)
DROP FUNCTION IF EXISTS customers_reservation_resolve(bigint, text, numeric, text, text, timestamptz, text, text,
                                                      bigint, text, inet, text);
CREATE FUNCTION customers_reservation_resolve(
    p_id bigint, p_status text, p_final numeric, p_description text, p_reason text, p_at timestamptz,
    a_kind text, a_label text, a_user_id bigint, a_request_id text, a_ip inet, a_user_agent text,
    OUT outcome text, OUT currency text, OUT usable numeric, OUT reservation customers_reservation
) LANGUAGE plpgsql AS $$
DECLARE
    c customers_customer;
    before jsonb;
    after jsonb;
    final numeric := CASE WHEN p_status = 'committed' THEN p_final END;
    charge bigint;
BEGIN
    IF p_status NOT IN ('committed', 'released', 'expired') THEN
        RAISE EXCEPTION 'a reservation resolves as committed, released or expired, not %', p_status;
    END IF;
    -- a resolved reservation never reopens (customers_reservation_guard), so one seen resolved is refused
    -- without locking; otherwise lock its customer, then the reservation, and look again
    SELECT * INTO reservation FROM customers_reservation WHERE id = p_id;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN;
    END IF;
    IF reservation.status <> 'open' THEN
        outcome := 'resolved';
        RETURN;
    END IF;
    -- FOR NO KEY UPDATE: the customer's key never changes here. The reservation keeps FOR UPDATE: a commit sets
    -- its charge_id, a unique column (a key).
    SELECT * INTO c FROM customers_customer WHERE id = reservation.customer_id FOR NO KEY UPDATE;
    currency := c.currency;
    SELECT * INTO reservation FROM customers_reservation WHERE id = p_id FOR UPDATE;
    IF reservation.status <> 'open' THEN
        outcome := 'resolved';
        RETURN;
    END IF;
    IF p_status = 'committed' THEN
        IF p_at >= reservation.expires_at THEN
            outcome := 'expired';
            RETURN;
        END IF;
        IF final > reservation.amount THEN
            outcome := 'over';
            RETURN;
        END IF;
    ELSIF p_status = 'expired' AND p_at < reservation.expires_at THEN
        outcome := 'not_due';
        RETURN;
    END IF;
    before := customers_figures(c) || '{"status": "open"}'::jsonb;
    IF final > 0 THEN
        -- the charge: a reservation's kind is a usage kind, which counts in Expecting invoice (the unbilled
        -- bucket, customers.ledger.bucket_for)
        INSERT INTO customers_transaction (customer_id, kind, bucket, amount, occurred_at, posted_at, reference,
                                           description, source_type, source_id, billed_document)
        VALUES (c.id, reservation.kind, 'unbilled', -final, p_at, now(), reservation.reference,
                left(p_description, 255), 'customers.reservation', reservation.id, '')
        RETURNING id INTO charge;
    END IF;
    UPDATE customers_reservation SET status = p_status, resolved_at = p_at, committed_amount = final,
                                     charge_id = charge
    WHERE id = p_id RETURNING * INTO reservation;
    UPDATE customers_customer SET amount_unbilled = amount_unbilled - COALESCE(final, 0),
                                  amount_reserved = amount_reserved - reservation.amount
    WHERE id = c.id RETURNING * INTO c;
    usable := c.usable_credits;
    after := customers_figures(c) || jsonb_build_object('status', p_status);
    IF p_status = 'committed' THEN
        after := after || jsonb_build_object('committed_amount', final::text,
                                             'released', (reservation.amount - final)::text);
    END IF;
    PERFORM customers_reservation_audit(
        reservation,
        'customers.reservation.' || CASE p_status WHEN 'committed' THEN 'commit' WHEN 'released' THEN 'release'
                                                  ELSE 'expire' END,
        before, after, p_reason, p_at, a_kind, a_label, a_user_id, a_request_id, a_ip, a_user_agent);
    outcome := 'ok';
END $$;
