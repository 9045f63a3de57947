"""SQL that lives in the database (functions, triggers) is kept as its current text in `<app>/sql/<name>.sql`,
written with CREATE OR REPLACE so loading it again is a no-op or an upgrade. A migration loads it; a change
to a body is an edit of the file plus a one-line migration `operations = [load("app", "name")]`.

The file is read when the migration runs, so an old migration loads today's text: bodies are loaded with
check_function_bodies off (PostgreSQL checks them when first called instead). A load is not reversible: the
previous text is in git, not in the database."""

from pathlib import Path

from django.db import migrations

ROOT = Path(__file__).resolve().parent.parent


def load(app: str, name: str, reverse_sql: str | None = None) -> migrations.RunSQL:
    """reverse_sql: what undoes the first load (a DROP), for a migration that creates what the file defines."""
    text = (ROOT / app / "sql" / f"{name}.sql").read_text(encoding="utf-8")
    sql = f"SET LOCAL check_function_bodies = off;\n{text}\nRESET check_function_bodies;"
    return migrations.RunSQL(sql, reverse_sql)
