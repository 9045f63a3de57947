"""finance.ReceivableAmount: what open invoices owe per currency and due date, as deltas the invoice trigger
inserts (see finance/models/receivables.py), folded by finance_receivable_amounts_fold().

The invoice trigger now also fires on a change of what an open invoice owes (total, paid, credited) or of
its due date or currency; ReceivableCustomer's counts move exactly as in 0007.
"""

from decimal import Decimal
from django.db import migrations, models


OPEN = "status IN ('sent', 'partially_paid') AND type <> 'top_up'"

SQL = """
CREATE OR REPLACE FUNCTION finance_receivable_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- what open invoices owe, per currency and due date: one delta, or one out and one in
    IF was AND is_ AND OLD.currency = NEW.currency AND OLD.due_date = NEW.due_date THEN
        IF (NEW.total - NEW.amount_paid - NEW.amount_credited) <> (OLD.total - OLD.amount_paid - OLD.amount_credited) THEN
            INSERT INTO finance_receivableamount (currency, due_date, owed, invoices)
            VALUES (NEW.currency, NEW.due_date, (NEW.total - NEW.amount_paid - NEW.amount_credited)
                                                - (OLD.total - OLD.amount_paid - OLD.amount_credited), 0);
        END IF;
    ELSE
        IF was THEN
            INSERT INTO finance_receivableamount (currency, due_date, owed, invoices)
            VALUES (OLD.currency, OLD.due_date, -(OLD.total - OLD.amount_paid - OLD.amount_credited), -1);
        END IF;
        IF is_ THEN
            INSERT INTO finance_receivableamount (currency, due_date, owed, invoices)
            VALUES (NEW.currency, NEW.due_date, NEW.total - NEW.amount_paid - NEW.amount_credited, 1);
        END IF;
    END IF;
    -- who is listed (as in 0007)
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
DROP TRIGGER finance_receivable_invoice_changed ON invoices_invoice;
CREATE TRIGGER finance_receivable_invoice_changed
    AFTER UPDATE OF status, type, customer_id, currency, due_date, total, amount_paid, amount_credited
    ON invoices_invoice
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.type IS DISTINCT FROM NEW.type
                       OR OLD.customer_id IS DISTINCT FROM NEW.customer_id OR OLD.currency IS DISTINCT FROM NEW.currency
                       OR OLD.due_date IS DISTINCT FROM NEW.due_date OR OLD.total IS DISTINCT FROM NEW.total
                       OR OLD.amount_paid IS DISTINCT FROM NEW.amount_paid
                       OR OLD.amount_credited IS DISTINCT FROM NEW.amount_credited)
    EXECUTE FUNCTION finance_receivable_invoice();

-- Fold the deltas into one row per currency and due date (a row whose invoices and amount are both zero goes).
-- Deltas inserted meanwhile are not in the DELETE's snapshot and stay as they are; two folds queue on the
-- advisory lock. Returns how many rows it folded.
CREATE FUNCTION finance_receivable_amounts_fold() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('finance_receivable_amounts_fold'));
    WITH gone AS (DELETE FROM finance_receivableamount RETURNING currency, due_date, owed, invoices),
         folded AS (INSERT INTO finance_receivableamount (currency, due_date, owed, invoices)
                    SELECT currency, due_date, SUM(owed), SUM(invoices) FROM gone GROUP BY currency, due_date
                    HAVING SUM(invoices) <> 0 OR SUM(owed) <> 0 RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION finance_receivables_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM finance_receivablecustomer;
    INSERT INTO finance_receivablecustomer (customer_id, currency, sort_name, open_invoices, cash_payments)
    SELECT c.id, c.currency, lower(c.name), COALESCE(i.n, 0), COALESCE(p.n, 0)
      FROM (SELECT customer_id, count(*) AS n FROM invoices_invoice WHERE {{OPEN}} GROUP BY customer_id) i
      FULL JOIN (SELECT customer_id, count(*) AS n FROM finance_payment
                  WHERE status IN ('unallocated', 'partially_allocated') GROUP BY customer_id) p
             ON p.customer_id = i.customer_id
      JOIN customers_customer c ON c.id = COALESCE(i.customer_id, p.customer_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM finance_receivableamount;
    INSERT INTO finance_receivableamount (currency, due_date, owed, invoices)
    SELECT currency, due_date, SUM(total - amount_paid - amount_credited), count(*)
      FROM invoices_invoice WHERE {{OPEN}} GROUP BY currency, due_date;
    RETURN n;
END
$$;
SELECT finance_receivables_rebuild();
""".replace("{{OPEN}}", OPEN)

REVERSE_SQL = """
DROP FUNCTION finance_receivable_amounts_fold();
DROP TRIGGER finance_receivable_invoice_changed ON invoices_invoice;
CREATE TRIGGER finance_receivable_invoice_changed AFTER UPDATE OF status, type, customer_id ON invoices_invoice
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.type IS DISTINCT FROM NEW.type
                       OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION finance_receivable_invoice();
"""  # the two functions replaced keep their new bodies, which handle the 0007 trigger's events the same way


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0007_receivable_customers'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReceivableAmount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3)),
                ('due_date', models.DateField()),
                ('owed', models.DecimalField(decimal_places=6, default=Decimal('0'), help_text='Signed: more owed (an invoice sent) or less (paid, credited, voided).', max_digits=20)),
                ('invoices', models.IntegerField(help_text='Signed: +1 an invoice opened, -1 one closed, 0 an amount change.')),
            ],
            options={
                'verbose_name': 'receivable amount (delta)',
            },
        ),
        migrations.RunSQL(SQL, REVERSE_SQL),
    ]
