from django.db import migrations


class Migration(migrations.Migration):
    """Posted ledger entries are immutable in the database itself: no DELETE, and no UPDATE except the
    one-way billing mark (billed_at / billed_document set once, by the invoice that bills the entry)."""

    dependencies = [("customers", "0001_initial"), ("audit", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="""
            CREATE FUNCTION customers_transaction_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
            CREATE TRIGGER customers_transaction_immutable
                BEFORE UPDATE OR DELETE ON customers_transaction
                FOR EACH ROW EXECUTE FUNCTION customers_transaction_guard();
            CREATE TRIGGER customers_masterwalletentry_immutable
                BEFORE UPDATE OR DELETE ON customers_masterwalletentry
                FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
            """,
            reverse_sql="""
            DROP TRIGGER IF EXISTS customers_masterwalletentry_immutable ON customers_masterwalletentry;
            DROP TRIGGER IF EXISTS customers_transaction_immutable ON customers_transaction;
            DROP FUNCTION IF EXISTS customers_transaction_guard();
            """,
        ),
    ]
