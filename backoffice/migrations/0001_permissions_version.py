"""A version number for the staff's permissions, bumped by the database whenever a role or a permission
changes, so that backoffice.auth.CachedPermissionsBackend can keep each user's permissions between requests
(bench issue 9: loading them took 1.5-2.5 ms, two join queries, of every 10-15 ms list page).

- backoffice_permissionsversion: one row (id 1) holding the version.
- A statement trigger on every table a user's permissions are made of (auth_user_groups,
  auth_user_user_permissions, auth_group_permissions, auth_group, auth_permission) adds 1 to it, in the same
  transaction as the change: whatever makes the change (admin, roles_ensure, a service, raw SQL, TRUNCATE),
  no process can see the new version before the change commits, nor keep the old permissions after.
"""

from django.db import migrations

TABLES = ("auth_user_groups", "auth_user_user_permissions", "auth_group_permissions", "auth_group",
          "auth_permission")

SQL = """
CREATE TABLE backoffice_permissionsversion (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO backoffice_permissionsversion (id, version) VALUES (1, 1);
CREATE FUNCTION backoffice_permissions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE backoffice_permissionsversion SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END $$;
""" + "".join(f"""
CREATE TRIGGER backoffice_permissions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION backoffice_permissions_changed();
""" for table in TABLES)

REVERSE = "".join(f"DROP TRIGGER backoffice_permissions_changed ON {table};\n" for table in TABLES) + """
DROP FUNCTION backoffice_permissions_changed();
DROP TABLE backoffice_permissionsversion;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunSQL(SQL, reverse_sql=REVERSE)]
