-- The customers app's invariants, kept by the database itself.

-- Posted ledger entries are immutable: no DELETE, and no UPDATE except the one-way billing mark (billed_at /
-- billed_document set once, by the invoice that bills the entry). Master wallet entries never change at all.
CREATE OR REPLACE FUNCTION customers_transaction_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger entries are immutable: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.billed_at IS NULL AND NEW.billed_at IS NOT NULL
       AND (to_jsonb(NEW) - 'billed_at' - 'billed_document')
           = (to_jsonb(OLD) - 'billed_at' - 'billed_document') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger entries are immutable: UPDATE refused (post an opposite entry)'
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER customers_transaction_immutable
    BEFORE UPDATE OR DELETE ON customers_transaction
    FOR EACH ROW EXECUTE FUNCTION customers_transaction_guard();

CREATE OR REPLACE TRIGGER customers_masterwalletentry_immutable
    BEFORE UPDATE OR DELETE ON customers_masterwalletentry
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();

-- A reservation resolves once: once it is committed, released or expired its row can no longer change, its
-- amount, customer and time never change, and no reservation is deleted.
CREATE OR REPLACE FUNCTION customers_reservation_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reservations are kept: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status <> 'open' THEN
        RAISE EXCEPTION 'reservation % is already %: it resolves once', OLD.id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.amount <> OLD.amount OR NEW.customer_id <> OLD.customer_id
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'reservation %: amount, customer and time never change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER customers_reservation_resolves_once
    BEFORE UPDATE OR DELETE ON customers_reservation
    FOR EACH ROW EXECUTE FUNCTION customers_reservation_guard();
