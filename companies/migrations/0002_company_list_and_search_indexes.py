"""The company list's order and search indexes, per database.

- The list order (last request, most recent first, never-requested last, then id) on its own and
  after plan: `(last_request_at DESC NULLS LAST, id DESC)`. SQLite takes no NULLS LAST in an index
  definition, but its DESC already puts NULLs last, so it gets the same index without the clause.
- Search by any word of a name or a company id: pg_trgm GIN indexes on PostgreSQL (as the contact
  search's, contacts 0006); Django's icontains compares UPPER(column) LIKE UPPER('%word%'). SQLite scans.
"""

from django.db import migrations

ORDER_INDEXES = {
    "company_last_request_id": "last_request_at DESC{nulls}, id DESC",
    "company_plan_request_id": "plan, last_request_at DESC{nulls}, id DESC",
}
TRIGRAM_INDEXES = {
    "company_name_trgm": "UPPER(name::text)",
    "company_company_id_trgm": "UPPER(company_id::text)",
}


def create_indexes(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    nulls = " NULLS LAST" if postgresql else ""
    for name, columns in ORDER_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON companies_company ({columns.format(nulls=nulls)})")
    if not postgresql:
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON companies_company USING gin ({expression} gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    names = [*ORDER_INDEXES, *(TRIGRAM_INDEXES if schema_editor.connection.vendor == "postgresql" else ())]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("companies", "0001_company_membership_tags")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
