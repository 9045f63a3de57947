-- Every invoice has a number by the time its transaction commits.
--
-- An invoice is inserted without a number only by a transaction that numbers a batch of them in one statement
-- before it commits (invoices.numbering.number_invoices): the billing run's chunk and the daily auto top-up's
-- batch of cheque/TT top-ups (invoices.services.lifecycle.invoice_top_ups_send_many). This refuses a commit that
-- would leave one empty: checked at COMMIT, once per row inserted (or renumbered) without a number.
CREATE OR REPLACE FUNCTION invoices_invoice_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM invoices_invoice WHERE id = NEW.id AND number IS NULL) THEN
        RAISE EXCEPTION 'invoice % has no number at commit', NEW.id USING ERRCODE = 'not_null_violation';
    END IF;
    RETURN NULL;
END $$;

-- (Dropped first: CREATE OR REPLACE does not apply to a constraint trigger.)
DROP TRIGGER IF EXISTS invoices_invoice_numbered_at_commit ON invoices_invoice;
CREATE CONSTRAINT TRIGGER invoices_invoice_numbered_at_commit
    AFTER INSERT OR UPDATE OF number ON invoices_invoice
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.number IS NULL) EXECUTE FUNCTION invoices_invoice_numbered();
