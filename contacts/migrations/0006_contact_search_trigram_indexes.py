"""Contact search by any word of a name or an email: pg_trgm GIN indexes on PostgreSQL.

Django's icontains on PostgreSQL compares UPPER(column) LIKE UPPER('%word%'), so the indexes are on
UPPER(name) and UPPER(email). Other databases (the embedded SQLite) get no index: they scan.
"""

from django.db import migrations

INDEXES = {
    "contact_name_trgm": "UPPER(name::text)",
    "contact_email_trgm": "UPPER(email::text)",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON contacts_contact USING gin ({expression} gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_contact_identity_verified_at")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
