"""Containment on a company's custom attributes (`@>`: the company list's attribute filters), on a GIN index as the
contacts' (contacts 0002), built concurrently on PostgreSQL: writes go on while it builds. SQLite has no such index."""

from django.db import migrations

NAME = "company_custom_attributes"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # A build killed half-way leaves an invalid index, which IF NOT EXISTS would keep: dropped, then built again.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [NAME],
        )
        invalid = cursor.fetchone()
    if invalid and invalid[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY {NAME}")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON companies_company USING gin (custom_attributes jsonb_path_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("companies", "0006_export_permission")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
