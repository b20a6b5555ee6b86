"""Company search by any word of a name or a company id: pg_trgm GIN indexes on PostgreSQL (as the
contact search's, contacts 0006). Other databases (the embedded SQLite) get no index: they scan."""

from django.db import migrations

INDEXES = {
    "company_name_trgm": "UPPER(name::text)",
    "company_company_id_trgm": "UPPER(company_id::text)",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON companies_company USING gin ({expression} gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("companies", "0001_company_membership_tags")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
