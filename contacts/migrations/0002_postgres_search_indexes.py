"""PostgreSQL-only indexes: prefix search on lower(name/email) and containment on custom attributes."""

from django.db import migrations

POSTGRES_INDEXES = {
    "contact_name_prefix": "CREATE INDEX IF NOT EXISTS contact_name_prefix ON contacts_contact (lower(name) text_pattern_ops)",
    "contact_email_prefix": "CREATE INDEX IF NOT EXISTS contact_email_prefix ON contacts_contact (lower(email) text_pattern_ops)",
    "contact_custom_attributes": "CREATE INDEX IF NOT EXISTS contact_custom_attributes ON contacts_contact USING gin (custom_attributes jsonb_path_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_INDEXES.values():
            schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in POSTGRES_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
