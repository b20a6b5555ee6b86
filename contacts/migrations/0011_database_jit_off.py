"""PostgreSQL's JIT compiler off for Parley's database: searches are built from untrusted input (any
viewer's token can send 200 filters), and JIT compilation turned some such shapes into 10-20 s queries
that run in 0.1-1.6 s without it (docs/deployment.md). A database setting, so that it holds behind
PgBouncer too; skipped with a notice where the migrating role does not own the database."""

from django.db import migrations

SET_JIT = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = {value}', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'Parley: could not set jit = {value} on this database (not its owner); see docs/deployment.md';
END $$;
"""


def _set_jit(value: str):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(SET_JIT.format(value=value), params=None)  # no placeholders: %I is format()'s

    return apply


class Migration(migrations.Migration):
    dependencies = [("contacts", "0010_contact_first_website")]

    operations = [migrations.RunPython(_set_jit("off"), _set_jit("DEFAULT"))]
