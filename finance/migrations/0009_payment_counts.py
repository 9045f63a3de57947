"""finance.PaymentCount: how many payments there are per status, method and received date, as deltas that
triggers on finance_payment insert (see finance/models/counts.py), folded by finance_payment_counts_fold().

The status is a stored generated column: an AFTER trigger sees it computed, so a payment allocated, topped up
or deleted moves its count from one status to the other in the transaction that changed it.
"""

from django.db import migrations, models

SQL = """
CREATE FUNCTION finance_payment_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO finance_paymentcount (status, method, received_date, payments)
        VALUES (OLD.status, OLD.method, OLD.received_date, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO finance_paymentcount (status, method, received_date, payments)
        VALUES (NEW.status, NEW.method, NEW.received_date, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER finance_payment_counted AFTER INSERT OR DELETE ON finance_payment
    FOR EACH ROW EXECUTE FUNCTION finance_payment_count();
CREATE TRIGGER finance_payment_recounted AFTER UPDATE ON finance_payment
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.method IS DISTINCT FROM NEW.method
                       OR OLD.received_date IS DISTINCT FROM NEW.received_date)
    EXECUTE FUNCTION finance_payment_count();

-- Fold the deltas into one row per status, method and day (a key whose count is zero goes). Deltas inserted
-- meanwhile are not in the DELETE's snapshot and stay as they are; two folds queue on the advisory lock.
-- Returns how many rows it folded.
CREATE FUNCTION finance_payment_counts_fold() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('finance_payment_counts_fold'));
    WITH gone AS (DELETE FROM finance_paymentcount RETURNING status, method, received_date, payments),
         folded AS (INSERT INTO finance_paymentcount (status, method, received_date, payments)
                    SELECT status, method, received_date, SUM(payments) FROM gone
                     GROUP BY status, method, received_date HAVING SUM(payments) <> 0 RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END
$$;

-- From the payments themselves (after a bulk load with the triggers disabled, or to mend what check_finance
-- found). Returns how many keys it wrote.
CREATE FUNCTION finance_payment_counts_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('finance_payment_counts_fold'));
    LOCK TABLE finance_payment IN SHARE MODE;  -- no payment changes between the count and the insert
    DELETE FROM finance_paymentcount;
    INSERT INTO finance_paymentcount (status, method, received_date, payments)
    SELECT status, method, received_date, count(*) FROM finance_payment GROUP BY status, method, received_date;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
SELECT finance_payment_counts_rebuild();
"""

REVERSE_SQL = """
DROP TRIGGER finance_payment_recounted ON finance_payment;
DROP TRIGGER finance_payment_counted ON finance_payment;
DROP FUNCTION finance_payment_count();
DROP FUNCTION finance_payment_counts_fold();
DROP FUNCTION finance_payment_counts_rebuild();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0008_receivable_amounts'),
    ]

    operations = [
        migrations.CreateModel(
            name='PaymentCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(max_length=24)),
                ('method', models.CharField(max_length=24)),
                ('received_date', models.DateField()),
                ('payments', models.IntegerField(help_text='Signed: +1 a payment came to this status, method and date, -1 left.')),
            ],
            options={
                'verbose_name': 'payment count (delta)',
                'indexes': [models.Index(fields=['status', 'method', 'received_date'], name='payment_count_key_idx')],
            },
        ),
        migrations.RunSQL(SQL, REVERSE_SQL),
    ]
