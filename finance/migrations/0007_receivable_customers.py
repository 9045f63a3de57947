"""finance.ReceivableCustomer and the triggers that keep it (see finance/models/receivables.py).

Counts move by +1 / -1 in an upsert under the row's lock; a row is deleted when both counts reach zero. The
invoice and payment triggers fire only when what decides membership changes (status, type, customer); the
customer trigger only on a new name or currency (the ledger's own updates of the customer row never name
those columns, so it is not even considered for them). finance_receivables_rebuild() recomputes every row
(this migration's backfill, and generate_scale_data after its bulk load); it is for an idle database.
"""

import django.db.models.deletion
from django.db import migrations, models


SQL = """
CREATE FUNCTION finance_receivable_move(cid bigint, invoices integer, payments integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    left_invoices integer;
    left_payments integer;
BEGIN
    IF invoices >= 0 AND payments >= 0 THEN
        INSERT INTO finance_receivablecustomer AS r (customer_id, currency, sort_name, open_invoices, cash_payments)
        SELECT c.id, c.currency, lower(c.name), invoices, payments FROM customers_customer c WHERE c.id = cid
        ON CONFLICT (customer_id) DO UPDATE
           SET open_invoices = r.open_invoices + EXCLUDED.open_invoices,
               cash_payments = r.cash_payments + EXCLUDED.cash_payments;
        RETURN;
    END IF;
    -- a decrement is an UPDATE (an upsert checks its proposed row, negative counts, before the conflict)
    UPDATE finance_receivablecustomer
       SET open_invoices = open_invoices + invoices, cash_payments = cash_payments + payments
     WHERE customer_id = cid
    RETURNING open_invoices, cash_payments INTO left_invoices, left_payments;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'finance_receivablecustomer has no row for customer % (run finance_receivables_rebuild())', cid;
    END IF;
    IF left_invoices = 0 AND left_payments = 0 THEN
        DELETE FROM finance_receivablecustomer WHERE customer_id = cid;
    END IF;
END
$$;

CREATE FUNCTION finance_receivable_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := false;
    is_ boolean := false;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        was := OLD.status IN ('sent', 'partially_paid') AND OLD.type <> 'top_up';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        is_ := NEW.status IN ('sent', 'partially_paid') AND NEW.type <> 'top_up';
    END IF;
    IF was AND is_ AND OLD.customer_id = NEW.customer_id THEN
        RETURN NULL;
    END IF;
    IF was THEN
        PERFORM finance_receivable_move(OLD.customer_id, -1, 0);
    END IF;
    IF is_ THEN
        PERFORM finance_receivable_move(NEW.customer_id, 1, 0);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER finance_receivable_invoice_added AFTER INSERT OR DELETE ON invoices_invoice
    FOR EACH ROW EXECUTE FUNCTION finance_receivable_invoice();
CREATE TRIGGER finance_receivable_invoice_changed AFTER UPDATE OF status, type, customer_id ON invoices_invoice
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.type IS DISTINCT FROM NEW.type
                       OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION finance_receivable_invoice();

CREATE FUNCTION finance_receivable_payment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := false;
    is_ boolean := false;
BEGIN
    -- 'unallocated' and 'partially_allocated' are assigned payments only (an unassigned one is 'unassigned')
    IF TG_OP <> 'INSERT' THEN
        was := OLD.status IN ('unallocated', 'partially_allocated');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        is_ := NEW.status IN ('unallocated', 'partially_allocated');
    END IF;
    IF was AND is_ AND OLD.customer_id = NEW.customer_id THEN
        RETURN NULL;
    END IF;
    IF was THEN
        PERFORM finance_receivable_move(OLD.customer_id, 0, -1);
    END IF;
    IF is_ THEN
        PERFORM finance_receivable_move(NEW.customer_id, 0, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER finance_receivable_payment_added AFTER INSERT OR DELETE ON finance_payment
    FOR EACH ROW EXECUTE FUNCTION finance_receivable_payment();
-- status is a generated column: UPDATE OF fires when a column it depends on is set
CREATE TRIGGER finance_receivable_payment_changed AFTER UPDATE OF status, customer_id ON finance_payment
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION finance_receivable_payment();

CREATE FUNCTION finance_receivable_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE finance_receivablecustomer SET sort_name = lower(NEW.name), currency = NEW.currency
     WHERE customer_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER finance_receivable_customer_renamed AFTER UPDATE OF name, currency ON customers_customer
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION finance_receivable_customer();

CREATE FUNCTION finance_receivables_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM finance_receivablecustomer;
    INSERT INTO finance_receivablecustomer (customer_id, currency, sort_name, open_invoices, cash_payments)
    SELECT c.id, c.currency, lower(c.name), COALESCE(i.n, 0), COALESCE(p.n, 0)
      FROM (SELECT customer_id, count(*) AS n FROM invoices_invoice
             WHERE status IN ('sent', 'partially_paid') AND type <> 'top_up' GROUP BY customer_id) i
      FULL JOIN (SELECT customer_id, count(*) AS n FROM finance_payment
                  WHERE status IN ('unallocated', 'partially_allocated') GROUP BY customer_id) p
             ON p.customer_id = i.customer_id
      JOIN customers_customer c ON c.id = COALESCE(i.customer_id, p.customer_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
SELECT finance_receivables_rebuild();
"""

REVERSE_SQL = """
DROP TRIGGER finance_receivable_customer_renamed ON customers_customer;
DROP TRIGGER finance_receivable_payment_changed ON finance_payment;
DROP TRIGGER finance_receivable_payment_added ON finance_payment;
DROP TRIGGER finance_receivable_invoice_changed ON invoices_invoice;
DROP TRIGGER finance_receivable_invoice_added ON invoices_invoice;
DROP FUNCTION finance_receivables_rebuild();
DROP FUNCTION finance_receivable_customer();
DROP FUNCTION finance_receivable_payment();
DROP FUNCTION finance_receivable_invoice();
DROP FUNCTION finance_receivable_move(bigint, integer, integer);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0009_reservation_functions_cached_plans'),
        ('finance', '0006_payment_list_index'),
        ('invoices', '0003_invoice_open_receivable_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReceivableCustomer',
            fields=[
                ('customer', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='customers.customer')),
                ('currency', models.CharField(max_length=3)),
                ('sort_name', models.TextField(db_collation='C')),
                ('open_invoices', models.PositiveIntegerField(help_text='Sent or partially paid purchase and monthly invoices.')),
                ('cash_payments', models.PositiveIntegerField(help_text='Assigned payments not fully allocated or topped up.')),
            ],
            options={
                'verbose_name': 'receivable customer',
                'indexes': [models.Index(fields=['sort_name', 'customer'], name='receivable_customer_order_idx')],
            },
        ),
        migrations.RunSQL(SQL, REVERSE_SQL),
    ]
