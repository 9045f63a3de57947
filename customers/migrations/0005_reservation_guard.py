from django.db import migrations


class Migration(migrations.Migration):
    """A reservation resolves once, in the database itself: once it is committed, released or expired its
    row can no longer change, its amount and customer never change, and no reservation is deleted."""

    dependencies = [("customers", "0004_constraints")]

    operations = [
        migrations.RunSQL(
            sql="""
            CREATE FUNCTION customers_reservation_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
            CREATE TRIGGER customers_reservation_resolves_once
                BEFORE UPDATE OR DELETE ON customers_reservation
                FOR EACH ROW EXECUTE FUNCTION customers_reservation_guard();
            """,
            reverse_sql="""
            DROP TRIGGER IF EXISTS customers_reservation_resolves_once ON customers_reservation;
            DROP FUNCTION IF EXISTS customers_reservation_guard();
            """,
        ),
    ]
