"""The reservation functions stop re-parsing SQL on every call (bench issue 9, found with perf on the ledger
posting bench: 36% of the database's CPU was fmgr_sql parsing and planning function bodies).

- customers_figures was declared IMMUTABLE but its body calls jsonb_build_object, which is STABLE; PostgreSQL
  therefore never inlined it and ran it as an SQL function, parsed and planned on each call (four calls per
  reserve + commit). It is STABLE now, which is what it is, and is inlined into the callers' cached plans.
- customers_reservation_reserve computes its audit event's `after` before the PERFORM: as an argument of the
  PERFORM, customers_figures was still run (and parsed) as a function.
- customers_reservation_audit was an SQL function holding an INSERT: SQL functions that are not inlined are
  parsed and planned on every call. It is PL/pgSQL now, whose statements keep their plans for the session.
Same arguments, same results: nothing else changes.
"""

from importlib import import_module

from django.db import migrations

SQL = r"""
ALTER FUNCTION customers_figures(customers_customer) STABLE;

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
    SELECT * INTO c FROM customers_customer WHERE id = p_customer_id FOR UPDATE;
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
            RETURN;
        END IF;
    END IF;
    usable := customers_usable_credits(c);
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
    -- computed apart: inside PERFORM's arguments customers_figures was not inlined (parsed on every call)
    after := customers_figures(c) || jsonb_build_object(
        'amount', p_amount::text,
        'expires_at', to_char(p_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'));
    PERFORM customers_reservation_audit(
        reservation, 'customers.reservation.reserve', before, after,
        '', p_at, a_kind, a_label, a_user_id, a_request_id, a_ip, a_user_agent);
    outcome := 'ok';
END $$;

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
"""

# Backwards: migration 0007's text of every function (customers_figures IMMUTABLE again), read from it, not copied.
REVERSE = import_module("customers.migrations.0007_reservation_functions").SQL.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0008_leaner_ledger_indexes"),
        ("audit", "0004_sharded_chain"),
    ]

    operations = [migrations.RunSQL(SQL, reverse_sql=REVERSE)]
